package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// Unknown stands for a field the build did not record: a binary built
// with -buildvcs=false (or outside a repository) has no revision, and one
// built from a work tree has the module version "(devel)".
const Unknown = "unknown"

// Info is what the binary knows about its own build.
type Info struct {
	// Module is the main module's path.
	Module string
	// Version is the main module's version: a tag or pseudo-version for
	// `go install module@version`, "(devel)" for a build in the work tree.
	Version string
	// Revision is the VCS commit the binary was built from, Unknown when
	// not recorded.
	Revision string
	// Modified says the work tree held uncommitted changes at build time.
	Modified bool
	// GoVersion is the toolchain's version.
	GoVersion string
}

// Read returns the running binary's build information. Fields the build
// did not record read Unknown (never empty), so they can be printed and
// used as label values as they are.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Module: Unknown, Version: Unknown, Revision: Unknown, GoVersion: runtime.Version()}
	}
	return FromBuildInfo(bi)
}

// FromBuildInfo extracts Info from bi (Read's work, apart for tests).
func FromBuildInfo(bi *debug.BuildInfo) Info {
	in := Info{Module: bi.Main.Path, Version: bi.Main.Version, Revision: Unknown, GoVersion: bi.GoVersion}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if s.Value != "" {
				in.Revision = s.Value
			}
		case "vcs.modified":
			in.Modified = s.Value == "true"
		}
	}
	if in.Module == "" {
		in.Module = Unknown
	}
	if in.Version == "" {
		in.Version = Unknown
	}
	if in.GoVersion == "" {
		in.GoVersion = runtime.Version()
	}
	return in
}

// ShortRevision is the first 12 hex digits of the revision, with
// "-modified" when the work tree was; Unknown when none was recorded.
func (i Info) ShortRevision() string {
	r := i.Revision
	if r == Unknown {
		return r
	}
	if len(r) > 12 {
		r = r[:12]
	}
	if i.Modified {
		r += "-modified"
	}
	return r
}

// String is the one-line form `scorer version` prints:
// "loan-scorer (devel) revision 0123456789ab-modified go1.26.0".
func (i Info) String() string {
	var b strings.Builder
	b.WriteString("loan-scorer ")
	b.WriteString(i.Version)
	b.WriteString(" revision ")
	b.WriteString(i.ShortRevision())
	b.WriteString(" ")
	b.WriteString(i.GoVersion)
	return b.String()
}

// CreatedBy is the Parquet created_by of a file written by what
// ("score", "sink"): "loan-scorer <what> version <version> (build
// <revision>)", the form Parquet readers parse (application, version,
// build).
func (i Info) CreatedBy(what string) string {
	return "loan-scorer " + what + " version " + i.Version + " (build " + i.ShortRevision() + ")"
}
