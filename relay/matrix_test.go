package relay_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"

	"github.com/devmesh/devmesh/relay"
)

func anthropicClient(e *env, opts ...aoption.RequestOption) anthropic.Client {
	return anthropic.NewClient(append([]aoption.RequestOption{
		aoption.WithBaseURL(e.URL), aoption.WithAPIKey(candidateToken),
		aoption.WithMaxRetries(2)}, opts...)...)
}

// answer is what a client saw.
type answer struct {
	Text  string
	Tool  string // name and arguments of a tool call, if any
	Usage int64  // total tokens the client was told
}

// endpoint is one way a client calls the relay.
type endpoint struct {
	name string
	call func(ctx context.Context, e *env, model, prompt string, tools bool) (answer, error)
}

var endpoints = []endpoint{
	{"chat", func(ctx context.Context, e *env, model, prompt string, tools bool) (answer, error) {
		c := openaiClient(e)
		r, err := c.Chat.Completions.New(ctx, chatParams(model, prompt, tools))
		if err != nil {
			return answer{}, err
		}
		a := answer{Text: r.Choices[0].Message.Content, Usage: r.Usage.TotalTokens}
		for _, tc := range r.Choices[0].Message.ToolCalls {
			a.Tool = tc.Function.Name + tc.Function.Arguments
		}
		return a, nil
	}},
	{"chat stream", func(ctx context.Context, e *env, model, prompt string, tools bool) (answer, error) {
		c := openaiClient(e)
		p := chatParams(model, prompt, tools)
		p.StreamOptions.IncludeUsage = openai.Bool(true)
		st := c.Chat.Completions.NewStreaming(ctx, p)
		acc := openai.ChatCompletionAccumulator{}
		for st.Next() {
			acc.AddChunk(st.Current())
		}
		if err := st.Err(); err != nil {
			return answer{}, err
		}
		if len(acc.Choices) == 0 {
			return answer{}, fmt.Errorf("no choices streamed")
		}
		a := answer{Text: acc.Choices[0].Message.Content, Usage: acc.Usage.TotalTokens}
		for _, tc := range acc.Choices[0].Message.ToolCalls {
			a.Tool = tc.Function.Name + tc.Function.Arguments
		}
		return a, nil
	}},
	{"responses", func(ctx context.Context, e *env, model, prompt string, tools bool) (answer, error) {
		c := openaiClient(e)
		r, err := c.Responses.New(ctx, responsesParams(model, prompt, tools))
		if err != nil {
			return answer{}, err
		}
		return responsesAnswer(r), nil
	}},
	{"responses stream", func(ctx context.Context, e *env, model, prompt string, tools bool) (answer, error) {
		c := openaiClient(e)
		st := c.Responses.NewStreaming(ctx, responsesParams(model, prompt, tools))
		var a answer
		var deltas strings.Builder
		for st.Next() {
			ev := st.Current()
			switch ev.Type {
			case "response.output_text.delta":
				deltas.WriteString(ev.Delta)
			case "response.completed", "response.incomplete":
				a = responsesAnswer(&ev.Response)
			}
		}
		if err := st.Err(); err != nil {
			return answer{}, err
		}
		if deltas.String() != a.Text {
			return a, fmt.Errorf("deltas %q differ from the completed text %q", deltas.String(), a.Text)
		}
		return a, nil
	}},
	{"messages", func(ctx context.Context, e *env, model, prompt string, tools bool) (answer, error) {
		c := anthropicClient(e)
		m, err := c.Messages.New(ctx, messagesParams(model, prompt, tools))
		if err != nil {
			return answer{}, err
		}
		return messagesAnswer(m), nil
	}},
	{"messages stream", func(ctx context.Context, e *env, model, prompt string, tools bool) (answer, error) {
		c := anthropicClient(e)
		st := c.Messages.NewStreaming(ctx, messagesParams(model, prompt, tools))
		m := anthropic.Message{}
		for st.Next() {
			if err := m.Accumulate(st.Current()); err != nil {
				return answer{}, err
			}
		}
		if err := st.Err(); err != nil {
			return answer{}, err
		}
		return messagesAnswer(&m), nil
	}},
}

func chatParams(model, prompt string, tools bool) openai.ChatCompletionNewParams {
	p := openai.ChatCompletionNewParams{Model: model, Messages: []openai.ChatCompletionMessageParamUnion{
		openai.SystemMessage("You are terse."), openai.UserMessage(prompt)}}
	if tools {
		p.Tools = []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(
			shared.FunctionDefinitionParam{Name: "run_tests", Description: openai.String("run the tests"),
				Parameters: shared.FunctionParameters{"type": "object",
					"properties": map[string]any{"path": map[string]any{"type": "string"}}}})}
	}
	return p
}

func responsesParams(model, prompt string, tools bool) responses.ResponseNewParams {
	p := responses.ResponseNewParams{Model: model, Instructions: openai.String("You are terse."),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String(prompt)}}
	if tools {
		p.Tools = []responses.ToolUnionParam{{OfFunction: &responses.FunctionToolParam{
			Name: "run_tests", Parameters: map[string]any{"type": "object",
				"properties": map[string]any{"path": map[string]any{"type": "string"}}}}}}
	}
	return p
}

func responsesAnswer(r *responses.Response) answer {
	a := answer{Text: r.OutputText(), Usage: r.Usage.TotalTokens}
	for _, it := range r.Output {
		if it.Type == "function_call" {
			a.Tool = it.Name + it.Arguments.OfString
		}
	}
	return a
}

func messagesParams(model, prompt string, tools bool) anthropic.MessageNewParams {
	p := anthropic.MessageNewParams{Model: anthropic.Model(model), MaxTokens: 200,
		System:   []anthropic.TextBlockParam{{Text: "You are terse."}},
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(prompt))}}
	if tools {
		p.Tools = []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{Name: "run_tests",
			InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{
				"path": map[string]any{"type": "string"}}}}}}
	}
	return p
}

func messagesAnswer(m *anthropic.Message) answer {
	a := answer{Usage: m.Usage.InputTokens + m.Usage.CacheReadInputTokens +
		m.Usage.CacheCreationInputTokens + m.Usage.OutputTokens}
	for _, b := range m.Content {
		switch b.Type {
		case "text":
			a.Text += b.Text
		case "tool_use":
			a.Tool = b.Name + string(b.Input)
		}
	}
	return a
}

// TestEveryEndpointReachesEveryProvider drives each endpoint with its
// official client against each provider flavour, translating formats
// where they differ, and checks text, usage and the ledger.
func TestEveryEndpointReachesEveryProvider(t *testing.T) {
	up := newUpstream(t)
	models := append(offlineModels(), upstreamModels(up)...)
	for _, m := range models {
		for _, ep := range endpoints {
			t.Run(m.ID+"/"+ep.name, func(t *testing.T) {
				e := newEnv(t, nil, models)
				a, err := ep.call(t.Context(), e, m.ID, "say hello", false)
				if err != nil {
					t.Fatal(err)
				}
				want := "Hello from upstream."
				if m.ID == relay.OfflineModelID {
					want = `You wrote: "say hello".`
				}
				if !strings.Contains(a.Text, want) {
					t.Fatalf("text %q, want it to contain %q", a.Text, want)
				}
				b := e.balance(t)
				if a.Usage != b.Used || b.Used == 0 {
					t.Fatalf("client saw usage %d, ledger charged %d", a.Usage, b.Used)
				}
				if m.ID != relay.OfflineModelID && b.Used != 23 {
					t.Fatalf("ledger charged %d, want 23 (20 input with 4 cached at full weight, 3 output)", b.Used)
				}
				e.checkBooks(t)
			})
		}
	}
}

// TestToolCallsTranslate checks that a tool call made by either
// upstream format reaches every client format intact.
func TestToolCallsTranslate(t *testing.T) {
	up := newUpstream(t)
	models := append(offlineModels(), upstreamModels(up)...)
	for _, m := range models {
		for _, ep := range endpoints {
			t.Run(m.ID+"/"+ep.name, func(t *testing.T) {
				e := newEnv(t, nil, models)
				a, err := ep.call(t.Context(), e, m.ID, "/tool a.py", true)
				if err != nil {
					t.Fatal(err)
				}
				want := `run_tests{"path":"a.py"}`
				if m.ID == relay.OfflineModelID {
					want = `run_tests{"echo":"a.py"}`
				}
				if a.Tool != want {
					t.Fatalf("tool call %q, want %q", a.Tool, want)
				}
				e.checkBooks(t)
			})
		}
	}
}
