package sftpd

// limits@openssh.com (OpenSSH PROTOCOL, "sftp: Extension request limits@openssh.com") tells
// a client how large its requests may be and how many handles it may hold. OpenSSH's sftp
// (8.6+) asks for it and then sizes its reads and writes to match; without it, it uses
// 32 KiB. The values are what this server really accepts, and each is enforced:
const (
	// maxPacketLength is the longest SFTP packet the server reads (the uint32 length
	// field itself not counted, as in OpenSSH): a longer one ends the session.
	maxPacketLength = 256 << 10

	// maxReadLength is the most data one read returns; longer reads are served short.
	// Each read is copied from the download's read-ahead block into the response. It is
	// what OpenSSH's sftp-server announces (a 256 KiB packet less 1 KiB): with 64 KiB the
	// server spent less CPU than sshd per GiB but the OpenSSH client spent more (four
	// times the requests and responses to handle), and on a 2-core machine client and
	// server share the CPU: a 1 GiB download went from 0.57-0.71x OpenSSH to 0.78x.
	maxReadLength = 256<<10 - 1024 // 261120

	// maxWriteLength is the longest write we ask clients for; the server takes writes up
	// to nearly maxPacketLength. Writes wait out of order in the upload's reorder buffer:
	// with openSSHRequests in flight, up to openSSHRequests-1 of them (see the checks
	// below). 64 KiB keeps that within maxPendingBytes (63 × 64 KiB < 4 MiB).
	maxWriteLength = 64 << 10

	// maxOpenHandles caps the files and directories one session holds open (each open
	// upload or download holds buffers of up to a few MiB while it transfers; see
	// writer.go and reader.go). OpenSSH's sftp opens one file at a time but keeps
	// min(64, max-open-handles) requests in flight, so less than 64 would slow it down.
	maxOpenHandles = 64

	// openSSHRequests is OpenSSH sftp's requests in flight by default (-R).
	openSSHRequests = 64
)

// Relations the values must keep; a line that breaks one does not compile (a negative
// constant has no uint64). First: a client that writes maxWriteLength with
// openSSHRequests in flight never overflows an upload's reorder buffer (writer.go).
const (
	_ = uint64(maxPendingBytes - (openSSHRequests-1)*maxWriteLength)
	_ = uint64(maxPendingPieces - (openSSHRequests - 1))
	_ = uint64(maxPacketLength - maxWriteLength - 1024) // room for the write's header and handle
	_ = uint64(maxOpenHandles - openSSHRequests)        // OpenSSH keeps min(64, handles) in flight
)
