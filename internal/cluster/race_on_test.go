//go:build race

package cluster_test

// raceBuild builds the nodes with the race detector when the test runs with it: the
// packages are then already compiled that way, and the nodes are checked too.
const raceBuild = true
