package version

import (
	"runtime/debug"
	"testing"
)

func TestResolve(t *testing.T) {
	vcs := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Version: "(devel)"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2026-12-01T10:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	for _, tc := range []struct {
		name                string
		ldV, ldC, ldD       string
		bi                  *debug.BuildInfo
		want                Info
		wantString, wantCom string
	}{
		{
			name: "nothing known",
			want: Info{Version: Devel},
		},
		{
			name: "linker values win over VCS data",
			ldV:  "v1.2.3", ldC: "fedcba9876543210fedcba9876543210fedcba98", ldD: "2026-12-06T15:00:00Z",
			bi:         vcs,
			want:       Info{Version: "1.2.3", Commit: "fedcba9876543210fedcba9876543210fedcba98", Date: "2026-12-06T15:00:00Z", Go: "go1.26.8"},
			wantString: "1.2.3 (commit fedcba987654, 2026-12-06T15:00:00Z, go1.26.8)",
		},
		{
			name:       "VCS fallback, dirty tree",
			bi:         vcs,
			want:       Info{Version: Devel, Commit: "0123456789abcdef0123456789abcdef01234567-dirty", Date: "2026-12-01T10:00:00Z", Go: "go1.26.8"},
			wantString: "(devel) (commit 0123456789ab-dirty, 2026-12-01T10:00:00Z, go1.26.8)",
		},
		{
			name:       "go install of a tagged module",
			bi:         &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.0.0"}},
			want:       Info{Version: "1.0.0", Go: "go1.26.8"},
			wantString: "1.0.0 (commit unknown, date unknown, go1.26.8)",
		},
		{
			name: "git describe --dirty as the commit",
			ldV:  "1.0.0", ldC: "0123456789abcdef-dirty",
			want:       Info{Version: "1.0.0", Commit: "0123456789abcdef-dirty"},
			wantString: "1.0.0 (commit 0123456789ab-dirty, date unknown, go)",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := resolve(tc.ldV, tc.ldC, tc.ldD, tc.bi)
			if tc.bi == nil {
				got.Go = "" // runtime.Version(): not under test
				if tc.wantString != "" {
					got.Go = "go"
					tc.want.Go = "go"
				}
			}
			if got != tc.want {
				t.Errorf("resolve = %+v, want %+v", got, tc.want)
			}
			if tc.wantString != "" && got.String() != tc.wantString {
				t.Errorf("String() = %q, want %q", got.String(), tc.wantString)
			}
		})
	}
}
