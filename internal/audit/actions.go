package audit

// Actions recorded in the log. The list only grows; names are never reused.
const (
	ActLogin         = "login"
	ActLockout       = "login.lockout"
	ActTokenCreate   = "token.create"
	ActTokenRevoke   = "token.revoke"
	ActTokenUse      = "token.use" // only failures are recorded, successes would flood the log
	ActFileUpload    = "file.upload"
	ActFileDownload  = "file.download"
	ActFileDelete    = "file.delete"
	ActFileRename    = "file.rename"
	ActFileStat      = "file.stat" // only denials
	ActDirList       = "dir.list"  // only denials
	ActDirCreate     = "dir.create"
	ActDirDelete     = "dir.delete"
	ActUserCreate    = "user.create"
	ActUserUpdate    = "user.update"
	ActUserPassword  = "user.password"
	ActGroupCreate   = "group.create"
	ActGroupDelete   = "group.delete"
	ActGroupMember   = "group.member"
	ActFolderCreate  = "folder.create"
	ActFolderUpdate  = "folder.update"
	ActGrantSet      = "grant.set"
	ActGrantRevoke   = "grant.revoke"
	ActAuditView     = "audit.view"
	ActServerStart   = "server.start"
	ActServerStop    = "server.stop"
	ActLockoutLifted = "login.unlock"
)

// Actions added with SFTP.
const (
	ActKeyAdd    = "key.add"
	ActKeyRemove = "key.remove"
)

// Actions added with partial uploads and link refusals.
const (
	ActUploadDiscard = "upload.discard" // the owner dropped a partial upload
	ActUploadExpire  = "upload.expire"  // a partial upload expired and was deleted
	ActFileLink      = "file.link"      // only refusals: links are not supported
)

// Actions added with uploads in pieces (tus).
const (
	ActUploadStart = "upload.start" // an upload in pieces was created
)

// Actions added with the web administration pages.
const (
	ActAuditExport = "audit.export" // an administrator downloaded audit records; Detail says which
)

// Actions added with web sign-in (docs/web-auth.md). A completed sign-in is ActLogin with
// the method in Detail ("password", "password+totp", "password+recovery code"); a wrong
// second factor is ActLogin denied, and counts toward the same lockout as a wrong password.
const (
	ActLoginPartial  = "login.partial"  // the password was right; a second factor or enrolment is still due
	ActLogout        = "logout"         // the user signed out of a web session
	ActSessionEnd    = "session.end"    // a web session ended by an administrator or by its owner elsewhere
	ActSessionReauth = "session.reauth" // the password was entered again for a sensitive change
	Act2FAEnrol      = "2fa.enrol"      // TOTP was confirmed and is now required at sign-in
	Act2FAReset      = "2fa.reset"      // an administrator removed a user's TOTP key and recovery codes
	Act2FARequire    = "2fa.require"    // an administrator required (or stopped requiring) 2FA of a user or of all
)

// Actions added with parcels (docs/parcels.md). Recipients act as "recipient:ADDRESS".
const (
	ActParcelCreate    = "parcel.create"    // a user created a parcel or a request
	ActParcelFile      = "parcel.file"      // a file was added to a parcel (by its sender, or uploaded to a request)
	ActParcelSend      = "parcel.send"      // a draft was sent and its links made
	ActParcelRecipient = "parcel.recipient" // a recipient was added after creation
	ActParcelRevoke    = "parcel.revoke"    // the owner revoked a parcel, or one recipient (Target)
	ActParcelClose     = "parcel.close"     // the owner stopped a request from accepting files
	ActParcelView      = "parcel.view"      // a recipient opened their link
	ActParcelUnlock    = "parcel.unlock"    // a passphrase attempt
	ActParcelDownload  = "parcel.download"  // a file of a parcel was downloaded
	ActParcelLink      = "parcel.link"      // only denials: a token that matches no link
	ActParcelPurge     = "parcel.purge"     // maintenance deleted an expired or revoked parcel's contents
)

// Actions added with resumable uploads into parcels (docs/parcels.md, "Resumable uploads").
// The upload's completion is a parcel.file record.
const (
	ActParcelUploadStart   = "parcel.upload.start"   // a resumable upload into a parcel began (Target: the upload id)
	ActParcelUploadDiscard = "parcel.upload.discard" // its uploader cancelled it (Target: the upload id)
)

// Actions added with e-mail notifications (docs/notify.md).
const (
	ActMailFailed = "mail.failed" // the outbox gave up on a mail (Detail: kind, recipient's domain, attempts, last error)
)

// Actions added with the defender (internal/defender). Path is "ip:ADDRESS".
const (
	ActBan   = "defender.ban"   // an address scored past the threshold and was banned; Detail says why and for how long
	ActUnban = "defender.unban" // an administrator lifted a ban
)

// Actions added with the exfiltration tripwires (docs/tripwires.md). The actor of an
// alert or a suspension is the account that tripped it; Target is the alert's kind.
const (
	ActTripwireAlert = "tripwire.alert"  // a tripwire fired; Detail says what and what it did
	ActAlertAck      = "tripwire.ack"    // an administrator acknowledged an alert (Target: its id)
	ActSuspend       = "account.suspend" // a tripwire suspended an account pending review
	ActSuspendLift   = "account.resume"  // an administrator lifted a suspension
	ActCanarySet     = "tripwire.canary" // an administrator marked (or unmarked) a canary
)
