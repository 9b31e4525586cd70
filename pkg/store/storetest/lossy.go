// Package storetest holds test doubles of the store's interfaces for the
// packages that consume them.
package storetest

import (
	"context"
	"sync"

	"github.com/switchyard-gw/switchyard/pkg/store"
)

// LossyDocuments is a store.Documents that can lose everything (a Redis
// restarted without persistence) or stop answering. It is safe for
// concurrent use.
type LossyDocuments struct {
	mu    sync.Mutex
	inner store.Documents
	down  error
}

// NewLossyDocuments returns an empty, answering store.
func NewLossyDocuments() *LossyDocuments {
	return &LossyDocuments{inner: store.NewMemory().Documents}
}

// Lose drops every document (revisions start again from nothing).
func (l *LossyDocuments) Lose() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inner = store.NewMemory().Documents
}

// SetDown makes every call fail with err (nil: answer again).
func (l *LossyDocuments) SetDown(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.down = err
}

func (l *LossyDocuments) get() (store.Documents, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inner, l.down
}

// GetDocument implements store.Documents.
func (l *LossyDocuments) GetDocument(ctx context.Context, name string) ([]byte, int64, error) {
	d, err := l.get()
	if err != nil {
		return nil, 0, err
	}
	return d.GetDocument(ctx, name)
}

// CASDocument implements store.Documents.
func (l *LossyDocuments) CASDocument(ctx context.Context, name string, doc []byte, expect int64) (int64, error) {
	d, err := l.get()
	if err != nil {
		return 0, err
	}
	return d.CASDocument(ctx, name, doc, expect)
}

// DocumentRevision implements store.Documents.
func (l *LossyDocuments) DocumentRevision(ctx context.Context, name string) (int64, error) {
	d, err := l.get()
	if err != nil {
		return 0, err
	}
	return d.DocumentRevision(ctx, name)
}

// RestoreDocument implements store.Documents.
func (l *LossyDocuments) RestoreDocument(ctx context.Context, name string, doc []byte, rev int64) (bool, error) {
	d, err := l.get()
	if err != nil {
		return false, err
	}
	return d.RestoreDocument(ctx, name, doc, rev)
}
