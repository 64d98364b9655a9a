package catboost

import (
	"strconv"
	"unsafe"

	"github.com/go-faster/city"
)

// CatHash returns CatBoost's hash of a categorical value: the low 32 bits of
// CityHash64 v1.0.x over the value's bytes (spec §3.1). city.CH64 is the
// ClickHouse freeze of that version; its Hash64 (v1.1) gives different values
// and must not be used. hash_test.go checks CatHash against the vectors CatBoost
// itself produced.
func CatHash(s string) uint32 {
	// The hash only reads the bytes, so viewing the string's storage avoids a
	// copy (and an allocation per value on the hot path).
	b := unsafe.Slice(unsafe.StringData(s), len(s))
	return uint32(city.CH64(b))
}

// CatHashInt returns the hash CatBoost gives an integer categorical value: the
// hash of its decimal string, as CatBoost's Python package and C API do.
func CatHashInt(v int64) uint32 {
	var buf [20]byte
	b := strconv.AppendInt(buf[:0], v, 10)
	return uint32(city.CH64(b))
}

// ctrMagicMult is CatBoost's MAGIC_MULT from hash.h, used to mix the parts of
// a CTR projection into one 64-bit key (spec §3.4).
const ctrMagicMult = 0x4906ba494954cb65

// mixHash is CatBoost's CalcHash(a, b) = MAGIC_MULT * (a + MAGIC_MULT * b).
func mixHash(a, b uint64) uint64 {
	return ctrMagicMult * (a + ctrMagicMult*b)
}

// catHashKey widens a category hash for projection hashing the way CatBoost
// does, `(ui64)(int)hash`: a sign extension (spec §3.4, pitfall 2).
func catHashKey(h uint32) uint64 {
	return uint64(int64(int32(h)))
}

// emptyHashKey is the value CatBoost's dense hash index uses for empty buckets;
// a projection hash equal to it is never found (spec §5.3, pitfall 7).
const emptyHashKey = ^uint64(0)
