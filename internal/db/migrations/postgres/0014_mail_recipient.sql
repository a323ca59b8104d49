-- Which parcel link a queued mail carries (docs/notify.md, "Revoked links"): revoking the
-- link, or its parcel, withdraws the mail if it has not been sent yet, and the outbox
-- checks the link again before sending. A deleted link takes its mail with it. NULL: a
-- mail that carries no link.
ALTER TABLE mail_outbox ADD COLUMN recipient_id TEXT REFERENCES parcel_recipients(id) ON DELETE CASCADE;
CREATE INDEX mail_outbox_recipient ON mail_outbox(recipient_id);
