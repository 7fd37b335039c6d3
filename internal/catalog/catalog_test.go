package catalog_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/transcoder/transcoder/internal/catalog"
	"github.com/transcoder/transcoder/internal/engine"
	"github.com/transcoder/transcoder/jobs"
	"github.com/transcoder/transcoder/presets"
)

// Compile-time check: workers and the job service take the catalog as
// their preset lookup.
var _ jobs.PresetLookup = (*catalog.Catalog)(nil)

const configID = "1700000000000-config"

// open starts an embedded engine and opens two catalogs on it, as two
// processes sharing an engine would.
func open(t *testing.T) (a, b *catalog.Catalog) {
	t.Helper()
	ctx := context.Background()
	eng, err := engine.Start(ctx, engine.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Close() })
	opts := catalog.Options{
		Presets: presets.NewRegistry(),
		Config:  []*catalog.Pipeline{catalog.ConfigPipeline(configID, "configured", "minio://uploads/incoming/", "s3://renditions/", "")},
	}
	for _, c := range []**catalog.Catalog{&a, &b} {
		if *c, err = catalog.Open(ctx, eng.JS, opts); err != nil {
			t.Fatal(err)
		}
		t.Cleanup((*c).Close)
	}
	return a, b
}

// eventually polls cond for up to five seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 5s", what)
		}
	}
}

func TestPipelines(t *testing.T) {
	a, b := open(t)
	ctx := context.Background()
	p, err := a.CreatePipeline(ctx, &catalog.Pipeline{Name: "api", InputBucket: "in", OutputBucket: "out",
		Input: "s3://in/", Output: "s3://out/", Notifications: &catalog.Notifications{Completed: "arn:aws:sns:us-east-1:123456789012:done"}})
	if err != nil {
		t.Fatal(err)
	}
	if jobs.CheckID("id", p.ID) != nil || p.ReadOnly {
		t.Fatalf("created %+v", p)
	}
	// Read your writes at once; the other process sees it through its watch.
	if got, err := a.GetPipeline(p.ID); err != nil || got.Name != "api" {
		t.Fatalf("GetPipeline: %v %+v", err, got)
	}
	// The other process reads it at once too: what its copy lacks yet is
	// read from storage (a client creating a pipeline on one daemon and a
	// job on another behind a load balancer).
	if got, err := b.GetPipeline(p.ID); err != nil || got.Name != "api" {
		t.Fatalf("GetPipeline on the other catalog, at once: %v %+v", err, got)
	}
	if l := b.ListPipelines(); len(l) != 2 || l[0].ID != configID || !l[0].ReadOnly || l[1].ID != p.ID {
		t.Fatalf("ListPipelines: %+v", l)
	}

	// Concurrent updates from both processes all land.
	var wg sync.WaitGroup
	for i := range 10 {
		c := []*catalog.Catalog{a, b}[i%2]
		wg.Go(func() {
			_, err := c.UpdatePipeline(ctx, p.ID, func(q *catalog.Pipeline) error {
				q.Name += "+"
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	eventually(t, "updates reach both", func() bool {
		x, _ := a.GetPipeline(p.ID)
		y, _ := b.GetPipeline(p.ID)
		return x.Name == "api++++++++++" && y.Name == x.Name
	})
	refuse := errors.New("no")
	if _, err := a.UpdatePipeline(ctx, p.ID, func(*catalog.Pipeline) error { return refuse }); !errors.Is(err, refuse) {
		t.Errorf("UpdatePipeline with a refusing fn = %v", err)
	}

	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"update configured", func() error {
			_, err := a.UpdatePipeline(ctx, configID, func(*catalog.Pipeline) error { return nil })
			return err
		}(), catalog.ErrReadOnly},
		{"delete configured", a.DeletePipeline(ctx, configID), catalog.ErrReadOnly},
		{"update unknown", func() error {
			_, err := a.UpdatePipeline(ctx, "1351620000001-nopipe", func(*catalog.Pipeline) error { return nil })
			return err
		}(), catalog.ErrNotFound},
		{"delete unknown", a.DeletePipeline(ctx, "1351620000001-nopipe"), catalog.ErrNotFound},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s = %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	if err := b.DeletePipeline(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetPipeline(p.ID); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("GetPipeline after delete = %v", err)
	}
	eventually(t, "delete reaches the other catalog", func() bool { _, err := a.GetPipeline(p.ID); return err != nil })
}

func TestPresets(t *testing.T) {
	a, b := open(t)
	ctx := context.Background()
	base, err := a.Lookup("generic-720p")
	if err != nil {
		t.Fatal(err)
	}
	base.Name, base.Aliases, base.Type, base.ID = "My 720p", nil, "", ""
	p, err := a.CreatePreset(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	if p.Type != presets.TypeCustom || jobs.CheckID("id", p.ID) != nil {
		t.Fatalf("created %+v", p)
	}
	// The other process resolves it at once, by ID (from storage if its
	// copy has not caught up) and then by name.
	for _, ref := range []string{p.ID, "my 720p"} {
		got, err := b.Lookup(ref)
		if err != nil || got.ID != p.ID {
			t.Errorf("Lookup(%q) on the other catalog: %v %+v", ref, err, got)
		}
	}
	// System presets come first and win.
	if got, err := b.Lookup("1351620000001-000010"); err != nil || got.Type != presets.TypeSystem {
		t.Errorf("Lookup(system): %v %+v", err, got)
	}
	var le *presets.LookupError
	if _, err := b.Lookup("no such preset"); !errors.As(err, &le) || !errors.Is(err, presets.ErrNotFound) {
		t.Errorf("Lookup(unknown) = %v, want a *presets.LookupError", err)
	}
	list := a.ListPresets()
	if len(list) < 60 || !slices.ContainsFunc(list, func(q *presets.Preset) bool { return q.ID == p.ID }) {
		t.Errorf("ListPresets: %d presets", len(list))
	}
	for i := 1; i < len(list); i++ {
		if list[i-1].ID >= list[i].ID {
			t.Fatalf("ListPresets not in ID order at %d: %s, %s", i, list[i-1].ID, list[i].ID)
		}
	}

	bad := &presets.Preset{Name: "bad", Container: "avi"}
	var errs presets.Errors
	if _, err := a.CreatePreset(ctx, bad); !errors.As(err, &errs) {
		t.Errorf("CreatePreset(invalid) = %v, want presets.Errors", err)
	}
	if err := a.DeletePreset(ctx, "1351620000001-000010"); !errors.Is(err, catalog.ErrReadOnly) {
		t.Errorf("DeletePreset(system) = %v, want ErrReadOnly", err)
	}
	if err := a.DeletePreset(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.GetPreset(p.ID); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("GetPreset after delete = %v", err)
	}
	if err := a.DeletePreset(ctx, p.ID); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("DeletePreset twice = %v, want ErrNotFound", err)
	}
}

func TestTargets(t *testing.T) {
	const done, failed, unmapped = "arn:aws:sns:us-east-1:123456789012:done", "arn:aws:sns:eu-west-1:123456789012:failed", "arn:aws:sns:us-east-1:123456789012:nobody"
	sns := map[string]string{done: "https://hooks.example/done", failed: "https://hooks.example/failed"}
	for _, tc := range []struct {
		name string
		n    *catalog.Notifications
		want string
	}{
		{"none", nil, "{[] [] [] [] secret}"},
		{"mapped", &catalog.Notifications{Completed: done, Error: failed}, "{[] [https://hooks.example/done] [] [https://hooks.example/failed] secret}"},
		{"unmapped skipped", &catalog.Notifications{Progressing: unmapped, Completed: done}, "{[] [https://hooks.example/done] [] [] secret}"},
	} {
		p := &catalog.Pipeline{ID: "1351620000001-target", Notifications: tc.n}
		tg := p.Targets(sns, "secret")
		got := fmt.Sprintf("{%v %v %v %v %s}", tg.Progressing, tg.Completed, tg.Warning, tg.Error, tg.Secret)
		if got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
	for _, tc := range []struct {
		s  string
		ok bool
	}{{"", true}, {done, true}, {"arn:aws:sns:us-east-1:1234:x", false}, {"https://hooks.example", false}} {
		if catalog.ValidTopic(tc.s) != tc.ok {
			t.Errorf("ValidTopic(%q) = %v", tc.s, !tc.ok)
		}
	}
}

func TestBucketName(t *testing.T) {
	for _, tc := range []struct{ loc, want string }{
		{"s3://renditions/", "renditions"},
		{"minio://uploads/", "minio/uploads"},
		{"minio://uploads/incoming/", "minio://uploads/incoming/"},
		{"file:///srv/inbox", "file:///srv/inbox"},
	} {
		if got := catalog.BucketName(tc.loc); got != tc.want {
			t.Errorf("BucketName(%q) = %q, want %q", tc.loc, got, tc.want)
		}
	}
}
