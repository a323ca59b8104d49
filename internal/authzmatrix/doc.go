// Package authzmatrix holds only tests: the authorisation matrix of docs/threat-model.md,
// which drives a whole server over every protocol (REST, web session, tus, SFTP) with
// every kind of subject and checks that each operation is allowed exactly when the
// permission model says so, and that nothing of one user's reaches another.
package authzmatrix
