package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elastictranscoder"
	"github.com/spf13/cobra"

	"github.com/transcoder/transcoder/presets"
)

func newPresetsCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "presets",
		Aliases: []string{"preset"},
		Short:   "List, show and validate presets",
		Long: `Presets say how one rendition is encoded: container, video, audio, thumbnails.

Every Elastic Transcoder system preset is built in under its old ID
(1351620000001-000010) and a short alias (generic-720p), beside modern presets
(HEVC, AV1, VP9/Opus, CMAF ladders). Add your own with --presets FILE|DIR.`,
	}
	cmd.AddCommand(newPresetsListCmd(g), newPresetsShowCmd(g), newPresetsValidateCmd(g))
	return cmd
}

func newPresetsListCmd(g *globalOptions) *cobra.Command {
	var output, typ string
	co := &clientOptions{}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List presets",
		Long: `List presets: the built-in ones and those of --presets, or with --server
those of a running transcoder (ListPresets), system and custom.`,
		Example: `  transcoder presets list
  transcoder presets list --type custom --presets ./my-presets
  transcoder presets list -o json
  transcoder presets list --server http://127.0.0.1:8080 --type custom`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			switch strings.ToLower(typ) {
			case "", "all":
				typ = ""
			case "system", "custom":
			default:
				return fmt.Errorf("unknown --type %q; allowed: system, custom", typ)
			}
			r, err := g.registry()
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("server") {
				return printPresets(cmd.OutOrStdout(), output, r.List(typ))
			}
			ctx := cmdContext(cmd)
			c, err := co.connect(ctx)
			if err != nil {
				return err
			}
			all, err := c.listPresets(ctx, r)
			if err != nil {
				return c.fail(err)
			}
			var list []*presets.Preset
			for _, p := range all {
				if typ == "" || strings.EqualFold(p.Type, typ) {
					list = append(list, p)
				}
			}
			return printPresets(cmd.OutOrStdout(), output, list)
		},
	}
	addOutputFlag(cmd, &output, formatTable)
	addPresetsServerFlags(cmd, co)
	cmd.Flags().StringVar(&typ, "type", "", "only presets of this type: system or custom")
	_ = cmd.RegisterFlagCompletionFunc("type", cobra.FixedCompletions([]string{"system", "custom"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func newPresetsShowCmd(g *globalOptions) *cobra.Command {
	var output string
	co := &clientOptions{}
	cmd := &cobra.Command{
		Use:   "show REF",
		Short: "Show one preset, found by ID, alias or name",
		Long: `Show one preset, found by ID, alias or name (case does not matter).

-o yaml (the default) prints our YAML, which 'transcoder presets validate'
accepts back; -o json prints Elastic Transcoder's Preset JSON. With --server
the preset is a running transcoder's (ReadPreset).`,
		Example: `  transcoder presets show 1351620000001-000010 -o json
  transcoder presets show generic-720p
  transcoder presets show generic-720p --server http://127.0.0.1:8080`,
		Args: cobra.ExactArgs(1),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return completePresets(g)(cmd, args, toComplete)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			r, err := g.registry()
			if err != nil {
				return err
			}
			var p *presets.Preset
			if cmd.Flags().Changed("server") {
				p, err = serverPreset(cmdContext(cmd), co, r, args[0])
			} else {
				p, err = r.Lookup(args[0])
			}
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			switch output {
			case formatJSON:
				return writeJSON(w, p)
			case formatYAML:
				return writeYAML(w, p)
			}
			return printPresets(w, formatTable, []*presets.Preset{p})
		},
	}
	addOutputFlag(cmd, &output, formatYAML)
	addPresetsServerFlags(cmd, co)
	return cmd
}

// addPresetsServerFlags adds the client flags to 'presets list' and
// 'presets show', where --server is the switch from the local presets to
// a server's: TRANSCODER_SERVER alone does not make them leave the local
// registry, which needs no daemon.
func addPresetsServerFlags(cmd *cobra.Command, co *clientOptions) {
	addClientFlags(cmd.Flags(), co)
	f := cmd.Flags().Lookup("server")
	f.Usage = "use the presets of the transcoder API at this URL ('transcoder run') instead of the local ones"
	f.DefValue = ""
}

// serverPreset reads one preset of a running transcoder: by ID with
// ReadPreset, else by name or alias among those ListPresets returns.
func serverPreset(ctx context.Context, co *clientOptions, local *presets.Registry, ref string) (*presets.Preset, error) {
	c, err := co.connect(ctx)
	if err != nil {
		return nil, err
	}
	if isID(ref) {
		out, err := c.et.ReadPreset(ctx, &elastictranscoder.ReadPresetInput{Id: aws.String(ref)})
		if err != nil {
			return nil, c.fail(err)
		}
		return fromSDKPreset(out.Preset, local)
	}
	idx, err := c.presetIndex(ctx, local)
	if err != nil {
		return nil, c.fail(err)
	}
	return idx.lookup(ref)
}

func newPresetsValidateCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check preset files and report every error",
		Long: `Check preset files: YAML syntax, field names, every Elastic Transcoder rule
and the rules of our extensions, and clashes with the built-in presets.
Every error is printed as FILE:LINE:COLUMN: FIELD: PROBLEM, clashes with
other presets (a reused ID or alias, an unknown ladder rung) too. The exit status is
1 when any file is invalid. Each file is checked against the built-in presets
and the --presets files other than itself.`,
		Example: `  transcoder presets validate my-presets.yaml`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bad := 0
			for _, file := range args {
				base, err := g.registryWithout(file)
				if err != nil {
					return err
				}
				n, err := validateFile(base, file)
				if err != nil {
					bad++
					fmt.Fprintln(cmd.ErrOrStderr(), err)
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: valid (%d %s)\n", file, n, plural(n, "preset", "presets"))
			}
			if bad > 0 {
				return &exitError{code: 1, msg: fmt.Sprintf("%d of %d %s invalid", bad, len(args), plural(len(args), "file", "files"))}
			}
			return nil
		},
	}
}

// validateFile checks one file on its own and against the presets already
// known (IDs, aliases, ladder rungs), returning how many presets it holds.
func validateFile(base *presets.Registry, file string) (int, error) {
	ps, err := presets.LoadFile(file)
	if err != nil {
		return 0, err
	}
	if err := base.Load(file); err != nil {
		var fe presets.Errors
		if errors.As(err, &fe) {
			return 0, fe
		}
		return 0, err
	}
	return len(ps), nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func printPresets(w io.Writer, output string, ps []*presets.Preset) error {
	switch output {
	case formatJSON:
		if ps == nil {
			ps = []*presets.Preset{}
		}
		return writeJSON(w, ps)
	case formatYAML:
		return writeYAML(w, ps)
	}
	rows := make([][]string, 0, len(ps))
	for _, p := range ps {
		alias := strings.Join(p.Aliases, ",")
		rows = append(rows, []string{p.ID, alias, p.Type, p.Container, videoSummary(p), audioSummary(p), strings.TrimPrefix(p.Name, "System preset: ")})
	}
	return writeTable(w, []string{"ID", "ALIAS", "TYPE", "CONTAINER", "VIDEO", "AUDIO", "NAME"}, rows)
}

func videoSummary(p *presets.Preset) string {
	if p.IsLadder() {
		return fmt.Sprintf("ladder of %d", len(p.Ladder))
	}
	v := p.Video
	if v == nil {
		return "-"
	}
	parts := []string{v.Codec}
	switch {
	case v.MaxWidth != "" && v.MaxWidth != "auto" && v.MaxHeight != "" && v.MaxHeight != "auto":
		parts = append(parts, v.MaxWidth+"x"+v.MaxHeight)
	case v.Resolution != "" && v.Resolution != "auto":
		parts = append(parts, v.Resolution)
	}
	if v.BitRate != "" && v.BitRate != "auto" {
		parts = append(parts, v.BitRate+"k")
	}
	return strings.Join(parts, " ")
}

func audioSummary(p *presets.Preset) string {
	a := p.Audio
	if a == nil {
		return "-"
	}
	if a.BitRate != "" {
		return a.Codec + " " + a.BitRate + "k"
	}
	return a.Codec
}
