package catboost

import (
	"encoding/binary"
	"fmt"
	"math"
)

// This file is a small flatbuffers reader that trusts nothing: every offset,
// vtable and vector length is checked against the buffer before it is used,
// and failures are errors, never panics. (The google/flatbuffers Go runtime
// does no bounds checking.) Offsets in errors are relative to the start of
// the whole file (base is the buffer's position in it).
//
// A flatbuffer may alias: many offsets can point at the same vector. To keep
// the decoded size proportional to the input, the reader charges every
// decoded vector element and every table visit to a budget of the buffer's
// own size; a buffer that asks for more is refused.

// fbBuffer is one flatbuffer (the model core or one CTR table).
type fbBuffer struct {
	b      []byte
	base   int64 // offset of b in the file
	format Format
	budget int64 // bytes of decoded content still allowed
}

func newFBBuffer(b []byte, base int64) *fbBuffer {
	return &fbBuffer{b: b, base: base, format: FormatCBM, budget: int64(len(b)) + 4096}
}

// fbTable is a table inside a buffer.
type fbTable struct {
	buf   *fbBuffer
	pos   uint32 // table start
	vt    uint32 // vtable start
	vtLen uint16 // vtable size in bytes
	size  uint16 // inline object size in bytes
	path  string
}

func (f *fbBuffer) errf(off int64, path string, sentinel error, format string, args ...any) *FormatError {
	if off >= 0 {
		off += f.base
	}
	return &FormatError{Format: f.format, Offset: off, Path: path, Reason: fmt.Sprintf(format, args...), Err: sentinel}
}

// charge takes n bytes of decoded content off the budget.
func (f *fbBuffer) charge(n int64, at int64, path string) error {
	if n > f.budget {
		return f.errf(at, path, nil, "flatbuffer decodes to more data than it holds (overlapping references)")
	}
	f.budget -= n
	return nil
}

func (f *fbBuffer) u32(at uint32) uint32 { return binary.LittleEndian.Uint32(f.b[at:]) }
func (f *fbBuffer) u16(at uint32) uint16 { return binary.LittleEndian.Uint16(f.b[at:]) }

// has reports whether n bytes starting at at lie inside the buffer.
func (f *fbBuffer) has(at uint32, n uint64) bool {
	return uint64(at)+n <= uint64(len(f.b))
}

// root returns the buffer's root table.
func (f *fbBuffer) root(path string) (*fbTable, error) {
	if !f.has(0, 4) {
		return nil, f.errf(0, path, ErrTruncated, "flatbuffer of %d bytes has no root offset", len(f.b))
	}
	return f.table(f.u32(0), path)
}

// table opens the table starting at pos.
func (f *fbBuffer) table(pos uint32, path string) (*fbTable, error) {
	if err := f.charge(4, int64(pos), path); err != nil {
		return nil, err
	}
	if !f.has(pos, 4) {
		return nil, f.errf(int64(pos), path, ErrTruncated, "table offset %d past the end of a %d-byte flatbuffer", pos, len(f.b))
	}
	vt := int64(pos) - int64(int32(f.u32(pos)))
	if vt < 0 || vt+4 > int64(len(f.b)) {
		return nil, f.errf(int64(pos), path, ErrTruncated, "vtable offset %d outside the %d-byte flatbuffer", vt, len(f.b))
	}
	t := &fbTable{buf: f, pos: pos, vt: uint32(vt), path: path}
	t.vtLen = f.u16(t.vt)
	t.size = f.u16(t.vt + 2)
	switch {
	case t.vtLen < 4 || t.vtLen%2 != 0:
		return nil, f.errf(vt, path, nil, "bad vtable size %d", t.vtLen)
	case !f.has(t.vt, uint64(t.vtLen)):
		return nil, f.errf(vt, path, ErrTruncated, "vtable of %d bytes runs past the end", t.vtLen)
	case t.size < 4:
		return nil, f.errf(vt, path, nil, "bad table size %d", t.size)
	case !f.has(pos, uint64(t.size)):
		return nil, f.errf(int64(pos), path, ErrTruncated, "table of %d bytes runs past the end", t.size)
	}
	return t, nil
}

// field returns the absolute position of field id holding n bytes inline, or
// 0 when the field is absent (a slot beyond a trimmed vtable is absent).
func (t *fbTable) field(id int, n uint16, name string) (uint32, error) {
	slot := 4 + 2*id
	if slot+2 > int(t.vtLen) {
		return 0, nil
	}
	o := t.buf.u16(t.vt + uint32(slot))
	if o == 0 {
		return 0, nil
	}
	if o < 4 || uint32(o)+uint32(n) > uint32(t.size) {
		return 0, t.buf.errf(int64(t.pos), t.path+"."+name, nil,
			"field offset %d (%d bytes) outside the %d-byte table", o, n, t.size)
	}
	return t.pos + uint32(o), nil
}

func (t *fbTable) int32(id int, name string, def int32) (int32, error) {
	p, err := t.field(id, 4, name)
	if err != nil || p == 0 {
		return def, err
	}
	return int32(t.buf.u32(p)), nil
}

func (t *fbTable) uint8(id int, name string, def uint8) (uint8, error) {
	p, err := t.field(id, 1, name)
	if err != nil || p == 0 {
		return def, err
	}
	return t.buf.b[p], nil
}

func (t *fbTable) bool(id int, name string, def bool) (bool, error) {
	d := uint8(0)
	if def {
		d = 1
	}
	v, err := t.uint8(id, name, d)
	return v != 0, err
}

func (t *fbTable) float32(id int, name string, def float32) (float32, error) {
	p, err := t.field(id, 4, name)
	if err != nil || p == 0 {
		return def, err
	}
	return math.Float32frombits(t.buf.u32(p)), nil
}

func (t *fbTable) float64(id int, name string, def float64) (float64, error) {
	p, err := t.field(id, 8, name)
	if err != nil || p == 0 {
		return def, err
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(t.buf.b[p:])), nil
}

// indirect follows the uoffset stored in field id; ok is false when absent.
func (t *fbTable) indirect(id int, name string) (target uint32, ok bool, err error) {
	p, err := t.field(id, 4, name)
	if err != nil || p == 0 {
		return 0, false, err
	}
	target64 := uint64(p) + uint64(t.buf.u32(p))
	if target64 >= uint64(len(t.buf.b)) {
		return 0, false, t.buf.errf(int64(p), t.path+"."+name, ErrTruncated,
			"offset to %d past the end of the %d-byte flatbuffer", target64, len(t.buf.b))
	}
	return uint32(target64), true, nil
}

// subTable opens the table referenced by field id; nil when absent.
func (t *fbTable) subTable(id int, name string) (*fbTable, error) {
	at, ok, err := t.indirect(id, name)
	if err != nil || !ok {
		return nil, err
	}
	return t.buf.table(at, t.path+"."+name)
}

// fbVector is a vector's element count and data position.
type fbVector struct {
	buf  *fbBuffer
	n    int
	data uint32
	path string
}

// vector opens the vector of elemSize-byte elements in field id; an absent
// field is an empty vector. The whole vector must fit in the buffer and in
// the decode budget before anything is allocated for it.
func (t *fbTable) vector(id int, name string, elemSize int) (fbVector, error) {
	path := t.path + "." + name
	at, ok, err := t.indirect(id, name)
	if err != nil || !ok {
		return fbVector{buf: t.buf, path: path}, err
	}
	if !t.buf.has(at, 4) {
		return fbVector{}, t.buf.errf(int64(at), path, ErrTruncated, "vector length past the end")
	}
	n := t.buf.u32(at)
	need := uint64(n) * uint64(elemSize)
	if !t.buf.has(at+4, need) {
		return fbVector{}, t.buf.errf(int64(at), path, ErrTruncated,
			"vector of %d elements needs %d bytes, %d left in the flatbuffer", n, need, len(t.buf.b)-int(at)-4)
	}
	if err := t.buf.charge(int64(need), int64(at), path); err != nil {
		return fbVector{}, err
	}
	return fbVector{buf: t.buf, n: int(n), data: at + 4, path: path}, nil
}

func (v fbVector) elemPath(i int) string { return fmt.Sprintf("%s[%d]", v.path, i) }

func (t *fbTable) int32s(id int, name string) ([]int32, error) {
	v, err := t.vector(id, name, 4)
	if err != nil || v.n == 0 {
		return nil, err
	}
	out := make([]int32, v.n)
	for i := range out {
		out[i] = int32(v.buf.u32(v.data + uint32(4*i)))
	}
	return out, nil
}

func (t *fbTable) uint32s(id int, name string) ([]uint32, error) {
	v, err := t.vector(id, name, 4)
	if err != nil || v.n == 0 {
		return nil, err
	}
	out := make([]uint32, v.n)
	for i := range out {
		out[i] = v.buf.u32(v.data + uint32(4*i))
	}
	return out, nil
}

func (t *fbTable) float32s(id int, name string) ([]float32, error) {
	v, err := t.vector(id, name, 4)
	if err != nil || v.n == 0 {
		return nil, err
	}
	out := make([]float32, v.n)
	for i := range out {
		out[i] = math.Float32frombits(v.buf.u32(v.data + uint32(4*i)))
	}
	return out, nil
}

func (t *fbTable) float64s(id int, name string) ([]float64, error) {
	v, err := t.vector(id, name, 8)
	if err != nil || v.n == 0 {
		return nil, err
	}
	out := make([]float64, v.n)
	for i := range out {
		out[i] = math.Float64frombits(binary.LittleEndian.Uint64(v.buf.b[v.data+uint32(8*i):]))
	}
	return out, nil
}

// bytes returns a byte vector without copying it.
func (t *fbTable) bytes(id int, name string) ([]byte, error) {
	v, err := t.vector(id, name, 1)
	if err != nil || v.n == 0 {
		return nil, err
	}
	return v.buf.b[v.data : v.data+uint32(v.n)], nil
}

// string reads a string field; absent is "".
func (t *fbTable) string(id int, name string) (string, error) {
	b, err := t.bytes(id, name)
	return string(b), err
}

// tables opens every table of a vector of tables.
func (t *fbTable) tables(id int, name string) ([]*fbTable, error) {
	v, err := t.vector(id, name, 4)
	if err != nil || v.n == 0 {
		return nil, err
	}
	out := make([]*fbTable, v.n)
	for i := range out {
		p := v.data + uint32(4*i)
		target := uint64(p) + uint64(v.buf.u32(p))
		if target >= uint64(len(v.buf.b)) {
			return nil, v.buf.errf(int64(p), v.elemPath(i), ErrTruncated, "offset to %d past the end", target)
		}
		if out[i], err = v.buf.table(uint32(target), v.elemPath(i)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// strings reads a vector of strings.
func (t *fbTable) strings(id int, name string) ([]string, error) {
	v, err := t.vector(id, name, 4)
	if err != nil || v.n == 0 {
		return nil, err
	}
	out := make([]string, v.n)
	for i := range out {
		p := v.data + uint32(4*i)
		at := uint64(p) + uint64(v.buf.u32(p))
		if at+4 > uint64(len(v.buf.b)) {
			return nil, v.buf.errf(int64(p), v.elemPath(i), ErrTruncated, "string offset past the end")
		}
		n := uint64(v.buf.u32(uint32(at)))
		if at+4+n > uint64(len(v.buf.b)) {
			return nil, v.buf.errf(int64(at), v.elemPath(i), ErrTruncated, "string of %d bytes runs past the end", n)
		}
		if err := v.buf.charge(int64(n), int64(at), v.elemPath(i)); err != nil {
			return nil, err
		}
		out[i] = string(v.buf.b[at+4 : at+4+n])
	}
	return out, nil
}
