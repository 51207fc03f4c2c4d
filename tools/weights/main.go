// Command weights moves network weights between PyTorch state dicts and the project's
// checkpoints.
//
// Usage:
//
//	go run ./tools/weights import FILE --network NAME [--classes N] --out CKPT
//	go run ./tools/weights export CKPT --network NAME [--classes N] --out FILE
//	go run ./tools/weights inspect FILE
//
// import reads a state dict (FILE.pth or .pt as torch.save writes it, possibly a checkpoint
// dict holding it under "state_dict" with DataParallel's "module." prefix, or FILE.safetensors)
// and writes a checkpoint of the training executor (experiments/train) holding the network's
// variables under the "model" scope. Such a checkpoint holds no optimiser state and its
// position is epoch 0.
//
// export reads a checkpoint (one written by import, or a training run's training.ckpt) and
// writes the network's state dict with the official code's keys (see package
// models/statedict): FILE.pth (torch.save's zip format, for torch.load, also with
// weights_only=True) or FILE.safetensors. It loads with load_state_dict(strict=True) in
// DenseNet3 of the DOS code (densenet-bc-100), WideResNet of the Outlier Exposure code
// (wrn-D-K), the CIFAR ResNet18 of kuangliu/pytorch-cifar (resnet18) and torchvision's
// resnet50.
//
// --classes is the number of network outputs; by default it is read from the file (the
// length of the last layer's bias).
//
// inspect lists a state dict's keys with dtypes and shapes.
//
// A bad command line exits with status 2, a file that cannot be read or does not fit the
// network with 1.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	gomlxctx "github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/oodlab/dos/experiments/train"
	"github.com/oodlab/dos/internal/cli"
	"github.com/oodlab/dos/models"
	"github.com/oodlab/dos/models/statedict"
)

func main() { cli.Main("weights", run) }

const usage = `usage:
  weights import FILE --network NAME [--classes N] --out CKPT
  weights export CKPT --network NAME [--classes N] --out FILE.pth|FILE.safetensors
  weights inspect FILE
FILE is a .pth/.pt (torch.save) or .safetensors state dict; CKPT a checkpoint of the training executor.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return cli.Usagef("want a command: import, export or inspect")
	}
	switch args[0] {
	case "import", "export":
		return convert(args[0], args[1:], stdout, stderr)
	case "inspect":
		return inspect(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	fmt.Fprint(stderr, usage)
	return cli.Usagef("unknown command %q: want import, export or inspect", args[0])
}

// convert is import (state dict -> checkpoint) and export (checkpoint -> state dict).
func convert(cmd string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("weights "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	network := fs.String("network", "", "network name: "+strings.Join(statedict.Networks(), ", "))
	classes := fs.Int("classes", 0, "number of network outputs (default: read from the file)")
	out := fs.String("out", "", "output file")
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	positional, err := cli.ParseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(positional) != 1 {
		return cli.Usagef("%s: want exactly one input file, got %d arguments %q", cmd, len(positional), positional)
	}
	in := positional[0]
	switch {
	case *network == "":
		return cli.Usagef("%s: --network is required (%s)", cmd, strings.Join(statedict.Networks(), ", "))
	case *out == "":
		return cli.Usagef("%s: --out is required", cmd)
	case *classes < 0:
		return cli.Usagef("%s: --classes %d: must be >= 1", cmd, *classes)
	}
	if _, err := models.Lookup(*network); err != nil {
		return cli.Usage(err)
	}
	if _, err := statedict.Mapping(*network, 1); err != nil {
		return cli.Usage(err)
	}
	if cmd == "import" {
		return importFile(in, *network, *classes, *out, stdout)
	}
	return exportFile(in, *network, *classes, *out, stdout)
}

func importFile(in, network string, classes int, out string, stdout io.Writer) error {
	sd, err := statedict.Read(in)
	if err != nil {
		return err
	}
	if classes == 0 {
		if classes, err = statedict.NumOutputs(network, sd); err != nil {
			return fmt.Errorf("%s: %w (give --classes)", in, err)
		}
	}
	ctx := gomlxctx.New()
	if err := statedict.Import(ctx.In(train.ModelScope), network, classes, sd); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	vars, err := train.CaptureVariables(ctx)
	if err != nil {
		return err
	}
	if err := (&train.Checkpoint{Vars: vars}).Save(out); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "imported %d keys of %s into %s: %s with %d outputs, %d variables\n", sd.Len(), in, out, network, classes, len(vars))
	return err
}

func exportFile(in, network string, classes int, out string, stdout io.Writer) error {
	ckpt, err := train.LoadCheckpoint(in)
	if err != nil {
		return err
	}
	if ckpt == nil {
		return fmt.Errorf("checkpoint %s: no such file", in)
	}
	ctx := gomlxctx.New()
	if err := train.RestoreVariables(ctx, ckpt.Vars); err != nil {
		return fmt.Errorf("checkpoint %s: %w", in, err)
	}
	model := ctx.In(train.ModelScope)
	if classes == 0 {
		if classes, err = statedict.ContextNumOutputs(model, network); err != nil {
			return fmt.Errorf("checkpoint %s: %w (give --classes)", in, err)
		}
	}
	sd, err := statedict.Export(model, network, classes)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", in, err)
	}
	if err := statedict.Write(out, sd); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "exported %s with %d outputs from %s to %s: %d keys\n", network, classes, in, out, sd.Len())
	return err
}

func inspect(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("weights inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	positional, err := cli.ParseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(positional) != 1 {
		return cli.Usagef("inspect: want exactly one file, got %d arguments %q", len(positional), positional)
	}
	sd, err := statedict.Read(positional[0])
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	total := 0
	for _, k := range sd.Keys() {
		t, _ := sd.Get(k)
		total += t.NumElements()
		fmt.Fprintf(tw, "%s\t%s\t%v\n", k, t.DType, t.Shape)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%d keys, %d elements\n", sd.Len(), total)
	return err
}
