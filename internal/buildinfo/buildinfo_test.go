package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	for _, tc := range []struct {
		name      string
		bi        debug.BuildInfo
		want      Info
		short     string
		str       string
		createdBy string
	}{
		{
			name: "stamped and modified",
			bi: debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "github.com/loan-scorer/loan-scorer", Version: "v1.2.3"},
				Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}}},
			want:      Info{Module: "github.com/loan-scorer/loan-scorer", Version: "v1.2.3", Revision: "0123456789abcdef0123", Modified: true, GoVersion: "go1.26.0"},
			short:     "0123456789ab-modified",
			str:       "loan-scorer v1.2.3 revision 0123456789ab-modified go1.26.0",
			createdBy: "loan-scorer score version v1.2.3 (build 0123456789ab-modified)",
		},
		{
			name:      "built with -buildvcs=false in the work tree",
			bi:        debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "github.com/loan-scorer/loan-scorer", Version: "(devel)"}},
			want:      Info{Module: "github.com/loan-scorer/loan-scorer", Version: "(devel)", Revision: Unknown, GoVersion: "go1.26.0"},
			short:     Unknown,
			str:       "loan-scorer (devel) revision unknown go1.26.0",
			createdBy: "loan-scorer score version (devel) (build unknown)",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := FromBuildInfo(&tc.bi)
			if got != tc.want {
				t.Fatalf("FromBuildInfo = %+v, want %+v", got, tc.want)
			}
			if s := got.ShortRevision(); s != tc.short {
				t.Errorf("ShortRevision = %q, want %q", s, tc.short)
			}
			if s := got.String(); s != tc.str {
				t.Errorf("String = %q, want %q", s, tc.str)
			}
			if s := got.CreatedBy("score"); s != tc.createdBy {
				t.Errorf("CreatedBy = %q, want %q", s, tc.createdBy)
			}
		})
	}
}

// TestReadInATestBinary: a test binary has build information (its module
// path is the package's), never empty fields.
func TestReadInATestBinary(t *testing.T) {
	in := Read()
	for name, v := range map[string]string{"Module": in.Module, "Version": in.Version, "Revision": in.Revision, "GoVersion": in.GoVersion} {
		if v == "" {
			t.Errorf("%s is empty", name)
		}
	}
	if !strings.HasPrefix(in.GoVersion, "go") {
		t.Errorf("GoVersion %q", in.GoVersion)
	}
}
