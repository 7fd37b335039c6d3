package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/transcoder/transcoder/internal/ffmpeg"
	"github.com/transcoder/transcoder/jobs"
	"github.com/transcoder/transcoder/pipeline"
)

type runOptions struct {
	roles       string
	dataDir     string
	nats        string
	listen      string
	concurrency int
	logLevel    string
	logFormat   string
	ffmpegPath  string
	ffprobePath string
	check       bool
}

func newRunCmd(g *globalOptions) *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the daemon: watch the pipelines' inputs, transcode, notify",
		Long: `Run the daemon that the config file (-c transcoder.yaml) describes: the engine
(NATS JetStream, embedded unless nats: names a cluster), a watcher per
pipeline that turns each new object in its input into one job, the workers
that run the jobs with ffmpeg, the notifier, and the HTTP listener (health,
readiness, S3 event webhooks).

Several machines can share one engine: point them at the same NATS cluster
and give each the roles it should run (--role work on transcoding machines,
say).

SIGTERM or Ctrl-C stops watching and taking jobs, gives running jobs the
grace period (workers.grace_period) to finish, releases the rest to the
queue for another worker, and exits 0.`,
		Example: `  transcoder run -c examples/local.yaml
  transcoder run -c transcoder.yaml --role work --nats nats://queue-1:4222
  transcoder run -c transcoder.yaml --check`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDaemon(cmd, g, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.roles, "role", envOr("TRANSCODER_ROLE", "all"),
		"what this process runs: all, or a comma-separated list of watch, work, notify, http (env TRANSCODER_ROLE)")
	f.StringVar(&o.dataDir, "data-dir", os.Getenv("TRANSCODER_DATA_DIR"), "override data_dir (env TRANSCODER_DATA_DIR)")
	f.StringVar(&o.nats, "nats", os.Getenv("TRANSCODER_NATS"), "override nats: the URL of a NATS cluster (env TRANSCODER_NATS)")
	f.StringVar(&o.listen, "listen", os.Getenv("TRANSCODER_LISTEN"), "override listen: the HTTP address, or off (env TRANSCODER_LISTEN)")
	f.IntVar(&o.concurrency, "concurrency", 0, "override workers.concurrency: jobs this process runs at once")
	f.StringVar(&o.logLevel, "log-level", envOr("TRANSCODER_LOG_LEVEL", "info"), "debug, info, warn or error")
	f.StringVar(&o.logFormat, "log-format", envOr("TRANSCODER_LOG_FORMAT", "text"), "text or json")
	f.StringVar(&o.ffmpegPath, "ffmpeg", os.Getenv("TRANSCODER_FFMPEG"), "path of ffmpeg (default: from PATH; env TRANSCODER_FFMPEG)")
	f.StringVar(&o.ffprobePath, "ffprobe", os.Getenv("TRANSCODER_FFPROBE"), "path of ffprobe (default: beside ffmpeg, else from PATH)")
	f.BoolVar(&o.check, "check", false, "check the config file and exit")
	return cmd
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func runDaemon(cmd *cobra.Command, g *globalOptions, o *runOptions) error {
	path := g.configPath
	if path == "" {
		if _, err := os.Stat("transcoder.yaml"); err != nil {
			return errors.New("no config file: give one with -c transcoder.yaml (or TRANSCODER_CONFIG); examples/local.yaml is a start")
		}
		path = "transcoder.yaml"
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("config %s: no such file", path)
		}
		return fmt.Errorf("config: %w", err)
	}
	cfg, err := pipeline.ParseConfig(path, data, g.presetPaths...)
	if err != nil {
		return &exitError{code: 1, msg: err.Error()}
	}
	if o.dataDir != "" {
		if cfg.Workers.WorkDir == filepath.Join(cfg.DataDir, "work") { // not set in the file
			cfg.Workers.WorkDir = filepath.Join(o.dataDir, "work")
		}
		cfg.DataDir = o.dataDir
	}
	if o.nats != "" {
		cfg.NATS.URL = o.nats
	}
	if o.listen != "" {
		cfg.Listen = o.listen
	}
	if o.concurrency > 0 {
		cfg.Workers.Concurrency = o.concurrency
	}
	roles, err := pipeline.ParseRoles(o.roles)
	if err != nil {
		return fmt.Errorf("--role: %w", err)
	}
	if o.check {
		fmt.Fprintf(cmd.OutOrStdout(), "%s: %d pipelines, %d presets: ok\n", path, len(cfg.Pipelines), len(cfg.Registry.List("")))
		return nil
	}
	log, err := newLogger(o.logLevel, o.logFormat)
	if err != nil {
		return err
	}
	opts := pipeline.DaemonOptions{Roles: roles, Logger: log}
	if roles.Work {
		tools, err := ffmpeg.Locate(o.ffmpegPath, o.ffprobePath)
		if err != nil {
			return err
		}
		caps, err := tools.Capabilities(cmd.Context())
		if err != nil {
			return err
		}
		opts.Tools, opts.Caps = tools, jobs.Capabilities{Encoders: caps}
	}
	return pipeline.Run(cmd.Context(), cfg, opts)
}

func newLogger(level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: allowed: debug, info, warn, error", level)
	}
	ho := &slog.HandlerOptions{Level: l}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, ho)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, ho)), nil
	}
	return nil, fmt.Errorf("--log-format %q: allowed: text, json", format)
}
