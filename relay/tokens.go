package relay

import (
	"sync"

	"github.com/tiktoken-go/tokenizer"
)

// Overheads added to every input bound. Chat formats wrap each message
// in a few control tokens; tools are described to the model in a
// preamble whose size the providers do not publish.
const (
	perMessageTokens = 8
	perRequestTokens = 16
	perToolTokens    = 32
)

var (
	o200kOnce sync.Once
	o200k     tokenizer.Codec
	o200kErr  error
)

// tiktoken returns the o200k_base codec, loaded once.
func tiktoken() (tokenizer.Codec, error) {
	o200kOnce.Do(func() { o200k, o200kErr = tokenizer.Get(tokenizer.O200kBase) })
	return o200k, o200kErr
}

// inputBound returns an upper bound of the input tokens of req under
// bound b; images count imageTokens each.
func inputBound(req *Request, b Bound, imageTokens int64) int64 {
	count := byteCount
	if b == BoundTiktoken {
		if codec, err := tiktoken(); err == nil {
			count = func(s string) int64 {
				n, err := codec.Count(s)
				if err != nil {
					return byteCount(s)
				}
				return int64(n)
			}
		}
	}
	total := int64(perRequestTokens) + count(req.System)
	for _, m := range req.Messages {
		total += perMessageTokens
		for _, p := range m.Parts {
			total += partBound(p, count, imageTokens)
		}
	}
	for _, t := range req.Tools {
		total += perToolTokens + count(t.Name) + count(t.Description) +
			count(string(t.Parameters))
	}
	return total
}

func partBound(p Part, count func(string) int64, imageTokens int64) int64 {
	switch p.Kind {
	case PartImage:
		return imageTokens
	case PartToolCall:
		return perMessageTokens + count(p.Name) + count(p.CallID) + count(p.Arguments)
	case PartToolResult:
		return perMessageTokens + count(p.CallID) + count(p.Text)
	}
	return count(p.Text)
}

func byteCount(s string) int64 { return int64(len(s)) }
