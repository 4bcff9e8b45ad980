// Package relay is DevMesh's server-side LLM relay. Candidates call it
// with their candidate token through the endpoints the official OpenAI
// and Anthropic clients use unmodified (chat completions, Responses,
// Messages, token counting, model listing); provider keys never leave
// the server.
//
// Every request follows the same path: check the per-submission limits,
// decode the request to the neutral Request, check the model against the
// task's allowed models, reserve the worst case (an upper bound of the
// input plus the output ceiling, which the relay injects when the client
// set none) in the ledger, append ai.request and ledger.reserved to the
// audit log, stream from the provider, write the answer in the client's
// format, settle the ledger with the reported usage and append
// ai.response and ledger.settled. docs/relay.md states the policy for
// disconnects, missing usage, cached tokens and over-reported usage.
package relay
