package store

import (
	"context"
	"fmt"
	"sync"
)

// memDocuments is Documents in process memory.
type memDocuments struct {
	mu   sync.Mutex
	docs map[string]memDoc
}

type memDoc struct {
	body []byte
	rev  int64
}

func newMemDocuments() *memDocuments { return &memDocuments{docs: map[string]memDoc{}} }

func (m *memDocuments) GetDocument(_ context.Context, name string) ([]byte, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.docs[name]
	if !ok {
		return nil, 0, ErrNotFound
	}
	return append([]byte(nil), d.body...), d.rev, nil
}

func (m *memDocuments) CASDocument(_ context.Context, name string, doc []byte, expect int64) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.docs[name].rev != expect {
		return 0, ErrConflict
	}
	rev := expect + 1
	m.docs[name] = memDoc{body: append([]byte(nil), doc...), rev: rev}
	return rev, nil
}

func (m *memDocuments) DocumentRevision(_ context.Context, name string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.docs[name].rev, nil
}

func (m *memDocuments) RestoreDocument(_ context.Context, name string, doc []byte, rev int64) (bool, error) {
	if rev < 1 {
		return false, fmt.Errorf("restoring the %s document: revision %d, want at least 1", name, rev)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.docs[name]
	if ok && cur.rev >= rev {
		return false, nil
	}
	m.docs[name] = memDoc{body: append([]byte(nil), doc...), rev: rev}
	return true, nil
}

// lose forgets every document (tests: a Redis restarted empty).
func (m *memDocuments) lose() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.docs = map[string]memDoc{}
}
