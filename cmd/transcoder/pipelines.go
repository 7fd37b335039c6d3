package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elastictranscoder"
	"github.com/aws/aws-sdk-go-v2/service/elastictranscoder/types"
	"github.com/spf13/cobra"
)

// defaultRole fills CreatePipeline's Role, which the API requires and a
// transcoder does not use (it has no IAM): any ARN of the right shape.
const defaultRole = "arn:aws:iam::000000000000:role/transcoder"

func newPipelinesCmd() *cobra.Command {
	co := &clientOptions{}
	cmd := &cobra.Command{
		Use:     "pipelines",
		Aliases: []string{"pipeline"},
		Short:   "List, show, create, pause, resume and delete pipelines on a running transcoder",
		Long: `Manage the pipelines of a running transcoder ('transcoder run') through its
Elastic Transcoder-compatible API. Pipelines are named by ID or by name.
Server and credentials are taken as by 'transcoder jobs' (see its --help).`,
	}
	addClientFlags(cmd.PersistentFlags(), co)
	cmd.AddCommand(newPipelinesListCmd(co), newPipelinesShowCmd(co), newPipelinesCreateCmd(co),
		newPipelineStatusCmd(co, "pause", "Paused", "Stop starting the pipeline's jobs; new jobs wait in Submitted"),
		newPipelineStatusCmd(co, "resume", "Active", "Start the pipeline's jobs again"),
		newPipelinesDeleteCmd(co))
	return cmd
}

// listPipelines pages through ListPipelines.
func (c *apiClient) listPipelines(ctx context.Context) ([]types.Pipeline, error) {
	var out []types.Pipeline
	p := elastictranscoder.NewListPipelinesPaginator(c.et, &elastictranscoder.ListPipelinesInput{Ascending: aws.String("true")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Pipelines...)
	}
	return out, nil
}

// pipelineNames maps every pipeline's ID to its name.
func (c *apiClient) pipelineNames(ctx context.Context) (map[string]string, error) {
	list, err := c.listPipelines(ctx)
	if err != nil {
		return nil, err
	}
	names := make(map[string]string, len(list))
	for _, p := range list {
		names[aws.ToString(p.Id)] = aws.ToString(p.Name)
	}
	return names, nil
}

// pipelineID resolves a pipeline's ID or name to its ID. Elastic
// Transcoder does not make names unique, so a name shared by several
// pipelines is refused.
func (c *apiClient) pipelineID(ctx context.Context, ref string) (string, error) {
	if isID(ref) {
		return ref, nil
	}
	list, err := c.listPipelines(ctx)
	if err != nil {
		return "", err
	}
	var ids, names []string
	for _, p := range list {
		names = append(names, aws.ToString(p.Name))
		if strings.EqualFold(aws.ToString(p.Name), ref) {
			ids = append(ids, aws.ToString(p.Id))
		}
	}
	switch len(ids) {
	case 1:
		return ids[0], nil
	case 0:
		known := "there are none"
		if len(names) > 0 {
			known = "known: " + strings.Join(names, ", ")
		}
		return "", &exitError{code: 1, msg: fmt.Sprintf("transcoder: no pipeline is named %q (%s)", ref, known)}
	}
	return "", &exitError{code: 1, msg: fmt.Sprintf("transcoder: %d pipelines are named %q (%s): use an ID", len(ids), ref, strings.Join(ids, ", "))}
}

func newPipelinesListCmd(co *clientOptions) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List pipelines",
		Example: "  transcoder pipelines list\n  transcoder pipelines list -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			ctx := cmdContext(cmd)
			c, err := co.connect(ctx)
			if err != nil {
				return err
			}
			list, err := c.listPipelines(ctx)
			if err != nil {
				return c.fail(err)
			}
			return printPipelines(cmd.OutOrStdout(), output, list)
		},
	}
	addOutputFlag(cmd, &output, formatTable)
	return cmd
}

func printPipelines(w io.Writer, format string, list []types.Pipeline) error {
	if format != formatTable {
		if list == nil {
			list = []types.Pipeline{}
		}
		return writeDocument(w, format, list)
	}
	rows := make([][]string, 0, len(list))
	for i := range list {
		p := &list[i]
		rows = append(rows, []string{aws.ToString(p.Id), aws.ToString(p.Name), aws.ToString(p.Status), aws.ToString(p.InputBucket), outputBucket(p)})
	}
	return writeTable(w, []string{"ID", "NAME", "STATUS", "INPUT BUCKET", "OUTPUT BUCKET"}, rows)
}

// outputBucket is OutputBucket, or ContentConfig's bucket.
func outputBucket(p *types.Pipeline) string {
	if b := aws.ToString(p.OutputBucket); b != "" {
		return b
	}
	if p.ContentConfig != nil {
		return dash(aws.ToString(p.ContentConfig.Bucket))
	}
	return "-"
}

func printPipeline(w io.Writer, format string, p *types.Pipeline) error {
	if format != formatTable {
		return writeDocument(w, format, p)
	}
	fields := [][]string{
		{"Id:", aws.ToString(p.Id)},
		{"Name:", aws.ToString(p.Name)},
		{"Status:", aws.ToString(p.Status)},
		{"Input bucket:", aws.ToString(p.InputBucket)},
		{"Output bucket:", outputBucket(p)},
	}
	if p.ThumbnailConfig != nil && aws.ToString(p.ThumbnailConfig.Bucket) != "" {
		fields = append(fields, []string{"Thumbnail bucket:", aws.ToString(p.ThumbnailConfig.Bucket)})
	}
	if r := aws.ToString(p.Role); r != "" {
		fields = append(fields, []string{"Role:", r})
	}
	if n := p.Notifications; n != nil {
		for _, f := range []struct{ name, arn string }{
			{"Notify progressing:", aws.ToString(n.Progressing)}, {"Notify completed:", aws.ToString(n.Completed)},
			{"Notify warning:", aws.ToString(n.Warning)}, {"Notify error:", aws.ToString(n.Error)},
		} {
			if f.arn != "" {
				fields = append(fields, []string{f.name, f.arn})
			}
		}
	}
	return writeFields(w, fields)
}

// printWarnings prints the Warnings a pipeline operation returns.
func printWarnings(w io.Writer, ws []types.Warning) {
	for _, x := range ws {
		fmt.Fprintf(w, "warning: %s: %s\n", aws.ToString(x.Code), aws.ToString(x.Message))
	}
}

func newPipelinesShowCmd(co *clientOptions) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "show ID|NAME",
		Short:   "Show one pipeline",
		Example: "  transcoder pipelines show uploads\n  transcoder pipelines show 1700000000000-abcdef -o json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			ctx := cmdContext(cmd)
			c, id, err := co.connectPipeline(ctx, args[0])
			if err != nil {
				return err
			}
			out, err := c.et.ReadPipeline(ctx, &elastictranscoder.ReadPipelineInput{Id: aws.String(id)})
			if err != nil {
				return c.fail(err)
			}
			printWarnings(cmd.ErrOrStderr(), out.Warnings)
			return printPipeline(cmd.OutOrStdout(), output, out.Pipeline)
		},
	}
	addOutputFlag(cmd, &output, formatTable)
	return cmd
}

// pipelineCreateOptions are the flags of 'pipelines create'.
type pipelineCreateOptions struct {
	name, inputBucket, outputBucket, role   string
	progressing, completed, warning, failed string
	output                                  string
}

func newPipelinesCreateCmd(co *clientOptions) *cobra.Command {
	o := &pipelineCreateOptions{}
	cmd := &cobra.Command{
		Use:   "create --name NAME --input-bucket BUCKET --output-bucket BUCKET",
		Short: "Create a pipeline",
		Long: `Create a pipeline (CreatePipeline): jobs read their input from the input
bucket and write outputs and thumbnails to the output bucket. A bucket name
is a bucket of the server's default store, or STORE/BUCKET for a store of
its transcoder.yaml. Notification topics are SNS topic ARNs that the server maps
to webhooks (api.sns_topics in its transcoder.yaml).`,
		Example: `  transcoder pipelines create --name uploads --input-bucket uploads --output-bucket renditions
  transcoder pipelines create --name web --input-bucket in --output-bucket out \
      --notify-completed arn:aws:sns:us-east-1:111122223333:done --notify-error arn:aws:sns:us-east-1:111122223333:failed`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(o.output); err != nil {
				return err
			}
			in, err := o.request()
			if err != nil {
				return err
			}
			ctx := cmdContext(cmd)
			c, err := co.connect(ctx)
			if err != nil {
				return err
			}
			out, err := c.et.CreatePipeline(ctx, in)
			if err != nil {
				return c.fail(err)
			}
			printWarnings(cmd.ErrOrStderr(), out.Warnings)
			return printPipeline(cmd.OutOrStdout(), o.output, out.Pipeline)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.name, "name", "", "name, 1-40 characters (required)")
	f.StringVar(&o.inputBucket, "input-bucket", "", "bucket the inputs are read from (required)")
	f.StringVar(&o.outputBucket, "output-bucket", "", "bucket the outputs are written to (required)")
	f.StringVar(&o.role, "role", defaultRole, "IAM role ARN, required by the API and not used by a transcoder")
	f.StringVar(&o.progressing, "notify-progressing", "", "SNS topic ARN told when a job starts")
	f.StringVar(&o.completed, "notify-completed", "", "SNS topic ARN told when a job is Complete")
	f.StringVar(&o.warning, "notify-warning", "", "SNS topic ARN told of a job's warnings")
	f.StringVar(&o.failed, "notify-error", "", "SNS topic ARN told when a job ends in Error")
	addOutputFlag(cmd, &o.output, formatTable)
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.MarkFlagRequired("input-bucket")
	_ = cmd.MarkFlagRequired("output-bucket")
	return cmd
}

// request is the CreatePipeline request the flags describe.
func (o *pipelineCreateOptions) request() (*elastictranscoder.CreatePipelineInput, error) {
	if o.name == "" || o.inputBucket == "" || o.outputBucket == "" {
		return nil, errors.New("--name, --input-bucket and --output-bucket must not be empty")
	}
	in := &elastictranscoder.CreatePipelineInput{
		Name: aws.String(o.name), InputBucket: aws.String(o.inputBucket), OutputBucket: aws.String(o.outputBucket),
		Role: aws.String(o.role),
	}
	if o.progressing+o.completed+o.warning+o.failed != "" {
		in.Notifications = &types.Notifications{
			Progressing: aws.String(o.progressing), Completed: aws.String(o.completed),
			Warning: aws.String(o.warning), Error: aws.String(o.failed),
		}
	}
	return in, nil
}

// connectPipeline connects to the server and resolves a pipeline given
// by ID or name, the first steps of every command about one pipeline.
func (co *clientOptions) connectPipeline(ctx context.Context, ref string) (*apiClient, string, error) {
	c, err := co.connect(ctx)
	if err != nil {
		return nil, "", err
	}
	id, err := c.pipelineID(ctx, ref)
	if err != nil {
		return nil, "", c.fail(err)
	}
	return c, id, nil
}

// newPipelineStatusCmd makes 'pause' and 'resume' (UpdatePipelineStatus).
func newPipelineStatusCmd(co *clientOptions, use, status, short string) *cobra.Command {
	return &cobra.Command{
		Use:     use + " ID|NAME",
		Short:   short,
		Example: "  transcoder pipelines " + use + " uploads",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmdContext(cmd)
			c, id, err := co.connectPipeline(ctx, args[0])
			if err != nil {
				return err
			}
			out, err := c.et.UpdatePipelineStatus(ctx, &elastictranscoder.UpdatePipelineStatusInput{Id: aws.String(id), Status: aws.String(status)})
			if err != nil {
				return c.fail(err)
			}
			got := status
			if out.Pipeline != nil && out.Pipeline.Status != nil {
				got = *out.Pipeline.Status
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pipeline %s: %s\n", id, got)
			return nil
		},
	}
}

func newPipelinesDeleteCmd(co *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID|NAME",
		Short: "Delete a pipeline that has no active jobs",
		Long: `Delete a pipeline (DeletePipeline). As in Elastic Transcoder, a pipeline with
jobs in Submitted or Progressing is refused with ResourceInUseException.`,
		Example: "  transcoder pipelines delete uploads",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmdContext(cmd)
			c, id, err := co.connectPipeline(ctx, args[0])
			if err != nil {
				return err
			}
			if _, err := c.et.DeletePipeline(ctx, &elastictranscoder.DeletePipelineInput{Id: aws.String(id)}); err != nil {
				return c.fail(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pipeline %s deleted\n", id)
			return nil
		},
	}
}
