// Package config describes one experiment run as data: the benchmark, the
// network, the OOD method with its hyperparameters, the optimiser and its
// schedule, batch sizes, seed and optional caps for quick runs.
//
// Configurations are YAML read with strict field checking: an unknown key is
// an error naming the key, the file and the line, and so is a value of the
// wrong kind for its field (a decimal number for an integer field, a negative
// number for the unsigned seed, the string "true" or yes for a boolean, null
// for a value): nothing is truncated, converted or silently left at its
// default, in run files, grid bases and grid axes alike. A resolved Run is
// built in three layers, later ones winning:
//
//  1. the defaults: the project-wide ones of Defaults and the method's own,
//     registered by one file per method (method_*.go) with the values of the
//     official DOS code (docs/method.md sections 2 to 4);
//  2. the grid's base configuration;
//  3. the values of the grid's axes for this run.
//
// A resolved Run serialises canonically (Canonical: YAML, keys sorted, every
// field that applies to the run present) and its identity is ID, a short hash
// of that canonical form. Parse reads the canonical form back as the same run.
// A run of a grid that sweeps more than method and seed also carries its
// values on the other axes (Run.Variant, not part of the configuration), which
// its Name (the run's directory) and the report's tables show.
package config
