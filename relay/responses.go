package relay

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/devmesh/devmesh/internal/errs"
)

// responsesFormat is OpenAI's Responses format (POST /v1/responses),
// stateless: the relay keeps no conversation, so previous_response_id
// is refused and the client sends the whole input every time.
type responsesFormat struct{}

func (responsesFormat) name() string { return "responses" }

type respRequest struct {
	Model              string          `json:"model"`
	Input              json.RawMessage `json:"input"`
	Instructions       string          `json:"instructions,omitempty"`
	Tools              []respTool      `json:"tools,omitempty"`
	ToolChoice         json.RawMessage `json:"tool_choice,omitempty"`
	MaxOutputTokens    *int64          `json:"max_output_tokens,omitempty"`
	Temperature        *float64        `json:"temperature,omitempty"`
	TopP               *float64        `json:"top_p,omitempty"`
	Stream             bool            `json:"stream,omitempty"`
	PreviousResponseID string          `json:"previous_response_id,omitempty"`
}

type respTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
}

type respItem struct {
	Type      string          `json:"type"`
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	CallID    string          `json:"call_id"`
	Name      string          `json:"name"`
	Arguments string          `json:"arguments"`
	Output    json.RawMessage `json:"output"`
}

type respContent struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	ImageURL string `json:"image_url"`
}

func (responsesFormat) decode(body []byte, _ http.Header, _ bool) (*Request, error) {
	var rr respRequest
	if err := json.Unmarshal(body, &rr); err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "invalid responses request: malformed JSON")
	}
	if rr.PreviousResponseID != "" {
		return nil, errs.E(errs.Invalid, "previous_response_id is not supported: the relay stores no responses; send the whole input")
	}
	req := &Request{Model: rr.Model, Temperature: rr.Temperature, TopP: rr.TopP, Stream: rr.Stream}
	if rr.MaxOutputTokens != nil {
		req.MaxTokens = *rr.MaxOutputTokens
	}
	system := []string{}
	if rr.Instructions != "" {
		system = append(system, rr.Instructions)
	}
	if err := respInput(req, rr.Input, &system); err != nil {
		return nil, err
	}
	req.System = strings.Join(system, "\n\n")
	for _, t := range rr.Tools {
		if t.Type != "function" {
			return nil, errs.E(errs.Invalid, "unsupported tool type %q: the relay offers function tools only", t.Type)
		}
		req.Tools = append(req.Tools, Tool{Name: t.Name, Description: t.Description, Parameters: t.Parameters})
	}
	tc, err := respToolChoice(rr.ToolChoice)
	if err != nil {
		return nil, err
	}
	req.ToolChoice = tc
	return req, validate(req)
}

func respInput(req *Request, raw json.RawMessage, system *[]string) error {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		appendTurn(req, RoleUser, Part{Kind: PartText, Text: s})
		return nil
	}
	var items []respItem
	if err := json.Unmarshal(raw, &items); err != nil {
		return errs.E(errs.Invalid, "invalid input: want a string or a list of items")
	}
	for i, it := range items {
		switch it.Type {
		case "", "message":
			parts, err := respParts(it.Content)
			if err != nil {
				return err
			}
			switch it.Role {
			case "system", "developer":
				for _, p := range parts {
					*system = append(*system, p.Text)
				}
			case RoleUser, RoleAssistant:
				appendTurn(req, it.Role, parts...)
			default:
				return errs.E(errs.Invalid, "invalid role %q in input item %d", it.Role, i)
			}
		case "function_call":
			appendTurn(req, RoleAssistant, Part{Kind: PartToolCall, CallID: it.CallID,
				Name: it.Name, Arguments: it.Arguments})
		case "function_call_output":
			var out string
			if json.Unmarshal(it.Output, &out) != nil {
				out = string(it.Output)
			}
			appendTurn(req, RoleUser, Part{Kind: PartToolResult, CallID: it.CallID, Text: out})
		default:
			return errs.E(errs.Invalid, "unsupported input item type %q", it.Type)
		}
	}
	return nil
}

func respParts(raw json.RawMessage) ([]Part, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []Part{{Kind: PartText, Text: s}}, nil
	}
	var list []respContent
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, errs.E(errs.Invalid, "invalid content: want a string or a list of parts")
	}
	parts := make([]Part, 0, len(list))
	for _, c := range list {
		switch c.Type {
		case "input_text", "output_text":
			parts = append(parts, Part{Kind: PartText, Text: c.Text})
		case "input_image":
			parts = append(parts, Part{Kind: PartImage, ImageURL: c.ImageURL})
		default:
			return nil, errs.E(errs.Invalid, "unsupported content type %q", c.Type)
		}
	}
	return parts, nil
}

func respToolChoice(raw json.RawMessage) (ToolChoice, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return ToolChoice{}, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return chatToolChoice(raw)
	}
	var obj struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.Name == "" {
		return ToolChoice{}, errs.E(errs.Invalid, "invalid tool_choice: want a mode or a function")
	}
	return ToolChoice{Mode: "tool", Name: obj.Name}, nil
}

type respUsage struct {
	InputTokens        int64 `json:"input_tokens"`
	InputTokensDetails struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	OutputTokens        int64 `json:"output_tokens"`
	OutputTokensDetails struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
	TotalTokens int64 `json:"total_tokens"`
}

type respOutContent struct {
	Type        string `json:"type"`
	Text        string `json:"text"`
	Annotations []any  `json:"annotations"`
}

type respOutItem struct {
	Type      string           `json:"type"`
	ID        string           `json:"id"`
	Status    string           `json:"status"`
	Role      string           `json:"role,omitempty"`
	Content   []respOutContent `json:"content,omitempty"`
	CallID    string           `json:"call_id,omitempty"`
	Name      string           `json:"name,omitempty"`
	Arguments *string          `json:"arguments,omitempty"`
}

type respObject struct {
	ID                string        `json:"id"`
	Object            string        `json:"object"`
	CreatedAt         int64         `json:"created_at"`
	Status            string        `json:"status"`
	Model             string        `json:"model"`
	Output            []respOutItem `json:"output"`
	Usage             *respUsage    `json:"usage,omitempty"`
	IncompleteDetails *struct {
		Reason string `json:"reason"`
	} `json:"incomplete_details"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Tools             []any  `json:"tools"`
	ToolChoice        string `json:"tool_choice"`
	ParallelToolCalls bool   `json:"parallel_tool_calls"`
}

func respID(id string) string { return "resp_" + strings.TrimPrefix(id, "rsv_") }

// respObjectOf renders r with status; output and usage only when done.
func respObjectOf(r *Response, status string, output []respOutItem) respObject {
	o := respObject{ID: respID(r.ID), Object: "response", CreatedAt: nowUnix(),
		Status: status, Model: r.Model, Output: output, Tools: []any{},
		ToolChoice: "auto", ParallelToolCalls: true}
	if o.Output == nil {
		o.Output = []respOutItem{}
	}
	if status == "incomplete" {
		o.IncompleteDetails = &struct {
			Reason string `json:"reason"`
		}{Reason: "max_output_tokens"}
	}
	if r.UsageKnown && status != "in_progress" {
		u := &respUsage{InputTokens: r.Usage.InputTokens, OutputTokens: r.Usage.OutputTokens,
			TotalTokens: r.Usage.Total()}
		u.InputTokensDetails.CachedTokens = r.Usage.CachedInputTokens
		o.Usage = u
	}
	return o
}

func respStatus(r *Response) string {
	if r.Stop == StopLength {
		return "incomplete"
	}
	return "completed"
}

// respOutput renders the parts of a finished response as output items.
func respOutput(r *Response) []respOutItem {
	var out []respOutItem
	for i, p := range r.Parts {
		id := r.ID + "_" + strconv.Itoa(i)
		switch p.Kind {
		case PartText:
			out = append(out, respMessageItem(id, p.Text, "completed"))
		case PartToolCall:
			out = append(out, respCallItem(id, p, "completed"))
		}
	}
	return out
}

func respMessageItem(id, text, status string) respOutItem {
	it := respOutItem{Type: "message", ID: "msg_" + strings.TrimPrefix(id, "rsv_"),
		Status: status, Role: "assistant", Content: []respOutContent{}}
	if status == "completed" {
		it.Content = []respOutContent{{Type: "output_text", Text: text, Annotations: []any{}}}
	}
	return it
}

func respCallItem(id string, p Part, status string) respOutItem {
	args := p.Arguments
	return respOutItem{Type: "function_call", ID: "fc_" + strings.TrimPrefix(id, "rsv_"),
		Status: status, CallID: p.CallID, Name: p.Name, Arguments: &args}
}

func (responsesFormat) respond(w http.ResponseWriter, _ *Request, r *Response) error {
	return writeJSON(w, respObjectOf(r, respStatus(r), respOutput(r)))
}

// respStream encodes a response as Responses stream events.
type respStream struct {
	w     *sseWriter
	resp  *Response
	seq   int
	items []respOutItem // finished items
	open  *respOutItem  // the item being streamed, if any
	text  strings.Builder
	args  strings.Builder
	tool  int // tool call index of the open function_call item
}

func (responsesFormat) encoder(w *sseWriter, _ *Request, resp *Response) streamEncoder {
	return &respStream{w: w, resp: resp, tool: -1}
}

func (s *respStream) send(typ string, v map[string]any) error {
	v["type"] = typ
	v["sequence_number"] = s.seq
	s.seq++
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.w.send(typ, b)
}

func (s *respStream) begin() error {
	obj := respObjectOf(s.resp, "in_progress", nil)
	if err := s.send("response.created", map[string]any{"response": obj}); err != nil {
		return err
	}
	return s.send("response.in_progress", map[string]any{"response": obj})
}

func (s *respStream) index() int { return len(s.items) }

func (s *respStream) openItem(it respOutItem) error {
	if err := s.closeItem(); err != nil {
		return err
	}
	s.open = &it
	if err := s.send("response.output_item.added", map[string]any{
		"output_index": s.index(), "item": it}); err != nil {
		return err
	}
	if it.Type != "message" {
		return nil
	}
	return s.send("response.content_part.added", map[string]any{"item_id": it.ID,
		"output_index": s.index(), "content_index": 0,
		"part": respOutContent{Type: "output_text", Annotations: []any{}}})
}

func (s *respStream) closeItem() error {
	if s.open == nil {
		return nil
	}
	it, idx := *s.open, s.index()
	s.open = nil
	it.Status = "completed"
	if it.Type == "message" {
		part := respOutContent{Type: "output_text", Text: s.text.String(), Annotations: []any{}}
		it.Content = []respOutContent{part}
		s.text.Reset()
		base := map[string]any{"item_id": it.ID, "output_index": idx, "content_index": 0}
		if err := s.send("response.output_text.done", with(base, "text", part.Text)); err != nil {
			return err
		}
		if err := s.send("response.content_part.done", with(base, "part", part)); err != nil {
			return err
		}
	} else {
		args := s.args.String()
		it.Arguments = &args
		s.args.Reset()
		if err := s.send("response.function_call_arguments.done", map[string]any{
			"item_id": it.ID, "output_index": idx, "arguments": args}); err != nil {
			return err
		}
	}
	s.items = append(s.items, it)
	return s.send("response.output_item.done", map[string]any{"output_index": idx, "item": it})
}

func with(m map[string]any, k string, v any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for key, val := range m {
		out[key] = val
	}
	out[k] = v
	return out
}

func (s *respStream) event(e Event) error {
	id := s.resp.ID + "_" + strconv.Itoa(s.index())
	switch e.Kind {
	case EventText:
		if s.open == nil || s.open.Type != "message" {
			if err := s.openItem(respMessageItem(id, "", "in_progress")); err != nil {
				return err
			}
		}
		s.text.WriteString(e.Text)
		return s.send("response.output_text.delta", map[string]any{"item_id": s.open.ID,
			"output_index": s.index(), "content_index": 0, "delta": e.Text})
	case EventToolCall:
		s.tool = e.Index
		return s.openItem(respCallItem(id, Part{CallID: e.CallID, Name: e.Name}, "in_progress"))
	case EventToolArgs:
		if s.open == nil || s.open.Type != "function_call" || s.tool != e.Index {
			return nil
		}
		s.args.WriteString(e.Text)
		return s.send("response.function_call_arguments.delta", map[string]any{
			"item_id": s.open.ID, "output_index": s.index(), "delta": e.Text})
	}
	return nil
}

func (s *respStream) end() error {
	if err := s.closeItem(); err != nil {
		return err
	}
	status := respStatus(s.resp)
	obj := respObjectOf(s.resp, status, s.items)
	return s.send("response."+status, map[string]any{"response": obj})
}

func (s *respStream) fail(msg string) error {
	obj := respObjectOf(s.resp, "failed", s.items)
	obj.Error = &struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{Code: "server_error", Message: msg}
	return s.send("response.failed", map[string]any{"response": obj})
}
