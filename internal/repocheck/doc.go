// Package repocheck holds tests of the repository itself rather than of one package: every
// reference to a document resolves to a file (and section) in the repository. It has no API.
package repocheck
