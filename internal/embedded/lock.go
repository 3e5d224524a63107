package embedded

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrLocked: another process holds the lock of the broker's data
// directory, i.e. an embedded broker runs on it.
var ErrLocked = errors.New("embedded: the broker's data directory is in use by another process")

// LockPath is the lock file of the broker data directory dataDir: a
// sibling file, dataDir + ".lock".
func LockPath(dataDir string) string { return filepath.Clean(dataDir) + ".lock" }

// Broker states recorded in the lock file.
const (
	StateStarting = "starting" // loading its data; not serving yet
	StateRunning  = "running"  // serving at Address
	StateStopped  = "stopped"  // closed cleanly: its data was saved whole
)

// Info is what the lock file says about the broker that holds (or last
// held) it.
type Info struct {
	PID     int    `json:"pid"`
	Address string `json:"address,omitempty"`
	State   string `json:"state"`
}

// Lock is an exclusive lock on a broker data directory, held from TryLock
// until Unlock (or the holder's exit: the operating system releases it
// however the process ends). The lock file also records Info about the
// holder, for other processes to find the running broker.
type Lock struct {
	f *os.File
}

// TryLock takes the lock of dataDir without waiting; it returns ErrLocked
// if another process holds it.
func TryLock(dataDir string) (*Lock, error) {
	path := LockPath(dataDir)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("embedded: lock %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("embedded: lock %s: %w", path, err)
	}
	if err := flock(f); err != nil {
		f.Close()
		if errors.Is(err, errWouldBlock) {
			return nil, ErrLocked
		}
		return nil, fmt.Errorf("embedded: lock %s: %w", path, err)
	}
	return &Lock{f: f}, nil
}

// Previous returns what the lock file says about the last holder before
// this one; ok is false if the file was empty or unreadable (a first
// start).
func (l *Lock) Previous() (info Info, ok bool) {
	data, err := os.ReadFile(l.f.Name())
	if err != nil || json.Unmarshal(data, &info) != nil {
		return Info{}, false
	}
	return info, true
}

// Set records info in the lock file.
func (l *Lock) Set(info Info) error {
	data, err := json.Marshal(info)
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("embedded: write %s: %w", l.f.Name(), err)
	}
	if _, err := l.f.WriteAt(data, 0); err != nil {
		return fmt.Errorf("embedded: write %s: %w", l.f.Name(), err)
	}
	return nil
}

// Unlock releases the lock.
func (l *Lock) Unlock() error { return l.f.Close() }

// ReadInfo reads the lock file of dataDir without taking the lock.
func ReadInfo(dataDir string) (Info, error) {
	var info Info
	data, err := os.ReadFile(LockPath(dataDir))
	if err != nil {
		return info, err
	}
	if err := json.Unmarshal(data, &info); err != nil {
		return info, fmt.Errorf("embedded: %s: %w", LockPath(dataDir), err)
	}
	return info, nil
}
