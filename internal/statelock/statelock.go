package statelock

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// FileName is the lock file's name inside the state directory.
const FileName = "tidemark.lock"

// ErrHeld: another process holds the state directory. Errors of Acquire
// that say so are *HeldError and match ErrHeld with errors.Is.
var ErrHeld = errors.New("statelock: state directory in use by another process")

// Holder describes the process holding a lock, as it wrote it into the
// lock file.
type Holder struct {
	PID     int       `json:"pid"`
	Host    string    `json:"host"`
	Started time.Time `json:"started"`
}

// HeldError is returned by Acquire when another process holds the lock.
type HeldError struct {
	// Dir is the state directory and Path its lock file, both absolute.
	Dir, Path string
	// Holder is what the holder wrote; zero if the file could not be read
	// (the holder had not written it yet, or it is not ours).
	Holder Holder
}

func (e *HeldError) Error() string {
	who := "another process (it has not written its pid yet)"
	if h := e.Holder; h.PID > 0 {
		who = fmt.Sprintf("process %d", h.PID)
		if h.Host != "" {
			who += " on host " + h.Host
		}
		if !h.Started.IsZero() {
			who += ", started " + h.Started.Format(time.RFC3339)
		}
	}
	return fmt.Sprintf("state directory %s is in use by %s: it holds the lock on %s. "+
		"Two processors on one state directory corrupt each other's state: stop that one first, or give this one its own state.dir",
		e.Dir, who, e.Path)
}

// Unwrap makes a HeldError match ErrHeld.
func (e *HeldError) Unwrap() error { return ErrHeld }

// Lock is a held state-directory lock. Release it, or let the process
// exit.
type Lock struct {
	f    *os.File
	path string
}

// Path is the lock file's absolute path.
func (l *Lock) Path() string { return l.path }

// readHolderFor bounds how long Acquire waits for the holder to write its
// details: it writes them right after it took the lock.
const readHolderFor = time.Second

// Acquire creates dir if need be and locks it for this process, without
// waiting: if another process holds it, Acquire returns a *HeldError
// naming that process. Acquiring twice in one process fails too (each
// Acquire opens the lock file anew).
func Acquire(dir string) (*Lock, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("statelock: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("statelock: create state directory: %w", err)
	}
	path := filepath.Join(abs, FileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("statelock: open lock file: %w", err)
	}
	held, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("statelock: lock %s: %w", path, err)
	}
	if held {
		f.Close()
		return nil, &HeldError{Dir: abs, Path: path, Holder: readHolder(path)}
	}
	host, _ := os.Hostname()
	data, _ := json.Marshal(Holder{PID: os.Getpid(), Host: host, Started: time.Now().UTC().Truncate(time.Second)})
	if err := writeHolder(f, append(data, '\n')); err != nil {
		f.Close()
		return nil, fmt.Errorf("statelock: write %s: %w", path, err)
	}
	return &Lock{f: f, path: path}, nil
}

func writeHolder(f *os.File, data []byte) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		return err
	}
	return f.Sync()
}

// readHolder reads the holder's details, giving it up to readHolderFor to
// write them.
func readHolder(path string) Holder {
	deadline := time.Now().Add(readHolderFor)
	for {
		var h Holder
		data, err := os.ReadFile(path)
		if err == nil && json.Unmarshal([]byte(strings.TrimSpace(string(data))), &h) == nil && h.PID > 0 {
			return h
		}
		if time.Now().After(deadline) {
			return Holder{}
		}
		time.Sleep(20 * time.Millisecond) // polling a file another process writes
	}
}

// Release unlocks the directory. The lock file stays: removing it would
// let a process that opened it just before lock a file no longer there.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := unlock(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}
