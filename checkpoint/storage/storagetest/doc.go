// Package storagetest is the behaviour suite every storage.Store
// implementation must pass.
package storagetest
