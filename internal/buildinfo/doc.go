// Package buildinfo reads what the Go toolchain stamped into the binary
// (runtime/debug.ReadBuildInfo): the module version, the VCS revision and
// whether the work tree was modified. `scorer version`, the
// scorer_build_info metric, the sync micro service's metadata and the
// Parquet files' created_by all print it from here, so they agree.
package buildinfo
