package launch

import "syscall"

// File system magic numbers (statfs f_type) of network and cluster file systems, which every
// node of a cluster can share, and of local ones, which no other node sees.
var (
	sharedFS = map[int64]string{0x6969: "NFS", 0x0BD00BD0: "Lustre", 0x47504653: "GPFS", 0x19830326: "BeeGFS",
		0x00C36400: "CephFS", 0xFF534D42: "CIFS", 0xFE534D42: "SMB2", 0x013111A8: "IBRIX", 0x5346414F: "AFS",
		0xAAD7AAEA: "PanFS", 0x65735546: "FUSE"}
	localFS = map[int64]string{0xEF53: "ext4", 0x58465342: "XFS", 0x9123683E: "Btrfs", 0x01021994: "tmpfs",
		0x794C7630: "overlay", 0x2FC12FC1: "ZFS", 0x858458F6: "ramfs"}
)

// FileSystem names the file system dir is on and says whether it is one that cluster nodes
// share (NFS, Lustre, GPFS, ...; FUSE counts as shared, since most cluster mounts through it
// are), or a local one (ext4, XFS, tmpfs, ...). known is false when the type is neither.
func FileSystem(dir string) (name string, shared, known bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return "", false, false
	}
	t := int64(st.Type) & 0xFFFFFFFF
	if n, ok := sharedFS[t]; ok {
		return n, true, true
	}
	if n, ok := localFS[t]; ok {
		return n, false, true
	}
	return "", false, false
}
