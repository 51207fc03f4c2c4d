//go:build !linux

package launch

// FileSystem cannot tell the file system's type here: known is false.
func FileSystem(string) (name string, shared, known bool) { return "", false, false }
