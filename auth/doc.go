// Package auth issues and verifies DevMesh's scoped tokens.
//
// Recruiters sign in with a password and receive a short-lived recruiter
// token (audience devmesh-recruiter) and a rotating refresh token. A
// candidate's single-use invite is exchanged (RFC 8693) for a short-lived
// candidate token (audience devmesh-candidate) bound to one submission.
// Both are EdDSA JWTs signed with keys that live, sealed under a master
// key, in the database, so every replica verifies with the same key set
// and sees rotations without a restart.
//
// Every route verifies credentials through one path, Service.Authenticate,
// which pins the algorithm, issuer, audience, JWT type, lifetime and key,
// and then checks the database: a candidate token works only while its
// submission is open; a recruiter token only while the account is enabled
// and its sign-in has not been revoked.
package auth
