package workspace

// Limits are the budgets a Tree and an archive reader enforce. A zero field
// means the default from DefaultLimits, so the zero Limits is usable.
type Limits struct {
	// Files is the most regular files a tree may hold.
	Files int
	// FileBytes is the largest size of one file, in bytes.
	FileBytes int64
	// TotalBytes is the largest sum of all file sizes, in bytes.
	TotalBytes int64
	// PathLen is the longest path, in bytes.
	PathLen int
	// Depth is the most slash-separated components in a path.
	Depth int

	// Entries is the most entries (files and directories) an archive may
	// contain. Only archive readers use it.
	Entries int
	// StreamBytes is the most decompressed bytes an archive reader will
	// read, tar headers and padding included. It is what stops a gzip
	// bomb: the reader gives up after StreamBytes whatever the headers say.
	StreamBytes int64
}

// Default budgets. A workspace is source code typed by one person in one
// session, so these are generous for that and small for a server.
const (
	DefaultFiles       = 2000
	DefaultFileBytes   = 4 << 20
	DefaultTotalBytes  = 32 << 20
	DefaultPathLen     = 256
	DefaultDepth       = 16
	DefaultEntries     = 4 * DefaultFiles
	DefaultStreamBytes = 64 << 20
)

// DefaultLimits returns the default budgets.
func DefaultLimits() Limits {
	return Limits{
		Files:       DefaultFiles,
		FileBytes:   DefaultFileBytes,
		TotalBytes:  DefaultTotalBytes,
		PathLen:     DefaultPathLen,
		Depth:       DefaultDepth,
		Entries:     DefaultEntries,
		StreamBytes: DefaultStreamBytes,
	}
}

// withDefaults returns l with every zero or negative field set to its
// default.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.Files <= 0 {
		l.Files = d.Files
	}
	if l.FileBytes <= 0 {
		l.FileBytes = d.FileBytes
	}
	if l.TotalBytes <= 0 {
		l.TotalBytes = d.TotalBytes
	}
	if l.PathLen <= 0 {
		l.PathLen = d.PathLen
	}
	if l.Depth <= 0 {
		l.Depth = d.Depth
	}
	if l.Entries <= 0 {
		l.Entries = d.Entries
	}
	if l.StreamBytes <= 0 {
		l.StreamBytes = d.StreamBytes
	}
	return l
}
