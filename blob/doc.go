// Package blob is DevMesh's immutable replay storage: a write-once,
// content-addressed, encrypted object store over gocloud.dev/blob.
//
// Every object is addressed by the SHA-256 of its plaintext (a Digest)
// inside a scope: a submission id, or "tasks". The object key is
// "v1/<scope>/<hex digest>". Put verifies that the content hashes to the
// digest it claims before anything becomes visible, writes with
// put-if-absent, and never overwrites: a second Put of the same digest is
// a no-op when the stored object is intact, and an integrity error when
// it is not. There is no Delete. Every read recomputes the digest.
//
// Objects are encrypted at rest with AES-256-GCM under a data key per
// scope (envelope encryption). Data keys are wrapped by a key-encryption
// key (KEK) held in a gocloud.dev/secrets keeper, and stored outside the
// blobs in a DataKeys store, so a KEK rotation rewraps data keys without
// touching any object, and shredding a scope's data key makes exactly that
// scope's objects unreadable. docs/storage.md describes the layout.
package blob
