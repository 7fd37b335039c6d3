package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/transcoder/transcoder/presets"
)

// globalOptions are the flags every command shares.
type globalOptions struct {
	presetPaths []string
	configPath  string
}

func newRootCmd() *cobra.Command {
	g := &globalOptions{}
	root := &cobra.Command{
		Use:   "transcoder",
		Short: "Transcode media with ffmpeg using Elastic Transcoder's presets, pipelines and jobs",
		Long: `transcoder turns media into renditions, thumbnails and playlists with ffmpeg.

It speaks Amazon Elastic Transcoder's language: every system preset under its
old ID, the same job states and notification JSON. Presets can also be written
in YAML; see 'transcoder presets --help'.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringArrayVar(&g.presetPaths, "presets", splitList(os.Getenv("TRANSCODER_PRESETS")),
		"a YAML file or directory of user presets (repeatable; env TRANSCODER_PRESETS, a "+string(filepath.ListSeparator)+"-separated list)")
	root.PersistentFlags().StringVarP(&g.configPath, "config", "c", os.Getenv("TRANSCODER_CONFIG"),
		"transcoder.yaml; its stores section names the S3 stores NAME:// locations use (env TRANSCODER_CONFIG)")
	root.AddCommand(newVersionCmd(), newPresetsCmd(g), newTranscodeCmd(g), newRunCmd(g), newJobsCmd(g), newPipelinesCmd())
	return root
}

// registry returns the system presets plus the user presets the flags name.
func (g *globalOptions) registry() (*presets.Registry, error) {
	r := presets.NewRegistry()
	if len(g.presetPaths) > 0 {
		if err := r.Load(g.presetPaths...); err != nil {
			return nil, fmt.Errorf("user presets:\n%w", err)
		}
	}
	return r, nil
}

// registryWithout is registry() leaving out one file, so that a file can
// be validated on its own even when --presets also names it.
func (g *globalOptions) registryWithout(file string) (*presets.Registry, error) {
	files, err := presets.Files(g.presetPaths...)
	if err != nil {
		return nil, fmt.Errorf("user presets:\n%w", err)
	}
	skip, _ := filepath.Abs(file)
	var keep []string
	for _, f := range files {
		if abs, _ := filepath.Abs(f); abs != skip {
			keep = append(keep, f)
		}
	}
	r := presets.NewRegistry()
	if len(keep) > 0 {
		if err := r.Load(keep...); err != nil {
			return nil, fmt.Errorf("user presets:\n%w", err)
		}
	}
	return r, nil
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return filepath.SplitList(s)
}
