// Package task reads task bundles: what a recruiter uploads to define an
// assessment. A bundle is a directory, or a .tar.gz of one, with
// devmesh-task.yaml at its root. docs/task-bundle.md is the user-facing
// description; this comment is the reference.
//
// # Manifest fields
//
// devmesh-task.yaml is decoded strictly: unknown fields, duplicate keys
// and a second YAML document are errors. Paths are relative to the bundle
// root, clean, without "..", and must exist.
//
//	format            required; 1
//	name              required; lowercase letters, digits, inner hyphens, <= 64 bytes
//	version           required; MAJOR.MINOR.PATCH
//	runtime           required; python | go | node
//	prompt            required; a UTF-8 file of at most 256 KiB, shown to the candidate
//	starter           required; a directory whose contents are the starting workspace
//	tests.visible     optional; a directory laid over the workspace root for the candidate
//	tests.hidden      required; a directory laid over the submitted workspace for evaluation
//	commands.run      required; argument vector run by "Run", no shell
//	commands.test     required; argument vector that runs the tests, no shell
//	limits.wall_time  1s to 10m, default 30s
//	limits.cpu_time   1s to 10m, default 20s
//	limits.memory     32MiB to 4GiB, default 512MiB
//	limits.processes  1 to 1024, default 128
//	limits.output     1KiB to 64MiB, default 1MiB (stdout and stderr together)
//	limits.disk       1MiB to 4GiB, default 128MiB
//	ai.token_budget   0 to 10000000 tokens per submission, default 0 (no assistant)
//	ai.models         model ids the candidate may use; required when the budget is > 0
//	rubric            1 to 32 criteria: id (as name), description (1 to 2000 bytes),
//	                  weight 1 to 100; a criterion's share is its weight over the sum
//	session_duration  5m to 8h, default 90m
//
// Durations are Go syntax ("90s", "1h30m") or a bare number of seconds.
// Sizes are a number with an optional unit: K, M, G, KiB, MiB, GiB are
// binary and KB, MB, GB decimal.
//
// The hidden test directory must not overlap the prompt, the starter or
// the visible tests, and the visible tests must not overlap or collide
// with the starter files: the candidate receives the starter and visible
// files only.
//
// # Reading and digest
//
// ParseDir and ParseArchive read a bundle with BundleLimits (at most
// 20 MiB of files, 2000 files, 4 MiB each) and refuse symbolic links,
// hard links, devices and unsafe names (see workspace.ReadArchive).
// Bundle.Validate reports every problem at once, each naming the field or
// file. A valid bundle's digest is the SHA-256 of its deterministic
// archive (workspace.WriteArchive), so the same files give the same
// digest whatever tool, entry order or timestamps produced the upload.
// Empty directories carry no content and do not count.
package task
