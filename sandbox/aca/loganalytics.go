package aca

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// LogAnalyticsOptions configure a LogAnalytics reader.
type LogAnalyticsOptions struct {
	// WorkspaceID is the Log Analytics workspace (customer) id that the
	// job's environment sends its logs to; required.
	WorkspaceID string
	// Credential authenticates the runner; it needs the Log Analytics
	// Reader role on the workspace. Required.
	Credential azcore.TokenCredential
	// Endpoint is the query API; default https://api.loganalytics.io.
	Endpoint string
	// Settle is how long to wait for the execution's logs to be
	// ingested: Log Analytics shows records minutes after they were
	// written. Reading stops early once the termination record, which
	// carries the exit code, has arrived. Default 3 minutes.
	Settle time.Duration
	// PollInterval is the pause between queries while settling.
	// Default 15 seconds.
	PollInterval time.Duration
	// ClientOptions tune the pipeline (transport, retries).
	ClientOptions *policy.ClientOptions
}

// LogAnalytics reads execution output from the console and system log
// tables that a Container Apps environment with the "log-analytics"
// destination writes. It is safe for concurrent use.
type LogAnalytics struct {
	opts     LogAnalyticsOptions
	pipeline runtime.Pipeline
}

var _ LogReader = (*LogAnalytics)(nil)

// NewLogAnalytics returns a reader for o.WorkspaceID. It makes no
// request.
func NewLogAnalytics(o LogAnalyticsOptions) (*LogAnalytics, error) {
	if o.WorkspaceID == "" || o.Credential == nil {
		return nil, errors.New("log analytics: workspace id and credential are required")
	}
	if o.Endpoint == "" {
		o.Endpoint = "https://api.loganalytics.io"
	}
	if o.Settle == 0 {
		o.Settle = 3 * time.Minute
	}
	if o.PollInterval == 0 {
		o.PollInterval = 15 * time.Second
	}
	scope := strings.TrimSuffix(o.Endpoint, "/") + "/.default"
	if strings.HasPrefix(o.Endpoint, "https://api.loganalytics.io") {
		scope = "https://api.loganalytics.io/.default"
	}
	bearer := runtime.NewBearerTokenPolicy(o.Credential, []string{scope}, nil)
	p := runtime.NewPipeline("devmesh-aca-logs", "v1",
		runtime.PipelineOptions{PerRetry: []policy.Policy{bearer}}, o.ClientOptions)
	return &LogAnalytics{opts: o, pipeline: p}, nil
}

// kqlName is what an execution or container name may look like. Names
// are embedded in the query text, so anything else is refused rather
// than escaped.
var kqlName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// exitRecord matches the system log line Azure writes when a container
// of a replica terminates.
var exitRecord = regexp.MustCompile(`Container '([^']+)' was terminated with exit code '(-?\d+)'`)

// ReadLogs implements LogReader.
func (l *LogAnalytics) ReadLogs(ctx context.Context, execution, container string, limit int64) (Logs, error) {
	if !kqlName.MatchString(execution) || !kqlName.MatchString(container) {
		return Logs{}, fmt.Errorf("read logs: invalid execution %q or container %q", execution, container)
	}
	deadline := time.Now().Add(l.opts.Settle)
	for {
		logs, final, err := l.read(ctx, execution, container, limit)
		if err != nil || final || time.Now().After(deadline) {
			return logs, err
		}
		if err := sleep(ctx, l.opts.PollInterval); err != nil {
			return logs, err
		}
	}
}

// read runs one query; final is true once the exit record is in.
func (l *LogAnalytics) read(ctx context.Context, execution, container string, limit int64) (Logs, bool, error) {
	rows, err := l.query(ctx, logQuery(execution, container))
	if err != nil {
		return Logs{ExitCode: -1}, false, err
	}
	logs, final := assemble(rows, container, limit)
	return logs, final, nil
}

// logQuery selects the console lines of one container of one
// execution and the system lines that report its termination. The
// replica names of an execution start with the execution's name.
func logQuery(execution, container string) string {
	return fmt.Sprintf(`union
 (ContainerAppConsoleLogs_CL
  | where ContainerGroupName_s startswith "%[1]s-" and ContainerName_s == "%[2]s"
  | project TimeGenerated, Kind = Stream_s, Text = Log_s),
 (ContainerAppSystemLogs_CL
  | where ReplicaName_s startswith "%[1]s-" and Log_s has "terminated with exit code"
  | project TimeGenerated, Kind = "system", Text = Log_s)
| order by TimeGenerated asc
| take 100000`, execution, container)
}

// assemble splits rows of (time, kind, text) into the two streams,
// keeping at most limit bytes, and finds the container's exit code.
func assemble(rows [][]any, container string, limit int64) (Logs, bool) {
	logs := Logs{ExitCode: -1}
	final := false
	left := limit
	for _, r := range rows {
		if len(r) < 3 {
			continue
		}
		kind, _ := r[1].(string)
		text, _ := r[2].(string)
		if kind == "system" {
			if m := exitRecord.FindStringSubmatch(text); m != nil && m[1] == container {
				final = true
				if code, err := strconv.Atoi(m[2]); err == nil && code >= 0 && code < 256 {
					logs.ExitCode = code
				}
			}
			continue
		}
		line := clip([]byte(text+"\n"), left)
		left -= int64(len(line))
		if kind == "stderr" {
			logs.Stderr = append(logs.Stderr, line...)
		} else {
			logs.Stdout = append(logs.Stdout, line...)
		}
	}
	return logs, final
}

// queryResponse is the part of the query API's answer the reader uses.
type queryResponse struct {
	Tables []struct {
		Rows [][]any `json:"rows"`
	} `json:"tables"`
}

func (l *LogAnalytics) query(ctx context.Context, kql string) ([][]any, error) {
	u := strings.TrimSuffix(l.opts.Endpoint, "/") + "/v1/workspaces/" + l.opts.WorkspaceID + "/query"
	req, err := runtime.NewRequest(ctx, http.MethodPost, u)
	if err != nil {
		return nil, err
	}
	body := map[string]string{"query": kql, "timespan": "P1D"}
	if err := runtime.MarshalAsJSON(req, body); err != nil {
		return nil, err
	}
	resp, err := l.pipeline.Do(req)
	if err != nil {
		return nil, fmt.Errorf("query log analytics: %w", err)
	}
	if !runtime.HasStatusCode(resp, http.StatusOK) {
		return nil, fmt.Errorf("query log analytics: %w", runtime.NewResponseError(resp))
	}
	var out queryResponse
	if err := runtime.UnmarshalAsJSON(resp, &out); err != nil {
		return nil, fmt.Errorf("query log analytics: decode: %w", err)
	}
	if len(out.Tables) == 0 {
		return nil, nil
	}
	return out.Tables[0].Rows, nil
}

// clip returns at most n bytes of b.
func clip(b []byte, n int64) []byte {
	if int64(len(b)) > n {
		return b[:max(n, 0)]
	}
	return b
}
