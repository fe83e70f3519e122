/* The seen set that forked worker processes share: 64-bit state fingerprints, each with
 * its parent's fingerprint and the BFS level that stored it, in one shared mapping made
 * before the workers are forked (checker/shared_partition.py says why).
 *
 * Layout: a header, then blocks of slots. The table is split into NSEG segments by the
 * fingerprint's top bits; each segment is an open-addressing table with linear probing,
 * its own spinlock, and its own capacity (a power of two), so that growing one segment
 * stops nothing else. A segment that outgrows its block gets a block twice as large
 * from the region (a free list per size, then the untouched end of the region) and
 * gives its old block back (its pages returned to the system).
 *
 * Fingerprints are computed here from the state's structure (ints, bools, None,
 * strings, tuples, frozensets), so every process agrees on them without Python's
 * per-process string hashing, and without the marshal round trip of
 * checker/fingerprints.py. 0 marks an empty slot (a fingerprint of 0 becomes 1). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SEG_BITS 10
#define NSEG (1u << SEG_BITS)
#define FIRST_BITS 5                    /* a segment starts with 32 slots */
#define SIZE_CLASSES 64

typedef struct {
    uint64_t fp;
    uint64_t parent;                    /* 0: an initial state */
    uint64_t level;
} Slot;

typedef struct {
    uint64_t offset;                    /* of the segment's block, from the region's start */
    uint64_t count;
    uint32_t bits;                      /* capacity = 1 << bits */
    uint32_t lock;
} Segment;

typedef struct {
    uint64_t size;                      /* bytes reserved (address space) */
    uint64_t limit;                     /* bytes the blocks in use may take (memory) */
    uint64_t bump;                      /* the untouched region starts here */
    uint64_t in_use;                    /* bytes of the blocks segments hold */
    uint32_t alloc_lock;
    uint32_t full;                      /* set once a segment could not grow */
    uint64_t free_list[SIZE_CLASSES];   /* a block's first word links the next */
    Segment seg[NSEG];
} Header;

typedef struct {
    PyObject_HEAD
    char *base;
    uint64_t size;
} SharedSeen;

/* ------------------------------------------------------------------ fingerprints */

static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static inline uint64_t combine(uint64_t h, uint64_t v) {
    return mix64(h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2)));
}

static uint64_t bytes_fp(uint64_t h, const unsigned char *s, size_t len) {
    for (size_t i = 0; i < len; i += 8) {
        uint64_t w = 0;
        memcpy(&w, s + i, len - i < 8 ? len - i : 8);
        h = combine(h, w);
    }
    return h;
}

static int big_int_fp(PyObject *o, uint64_t *out) {
    size_t nbits = _PyLong_NumBits(o);
    if (nbits == (size_t)-1 && PyErr_Occurred())
        return -1;
    size_t nbytes = nbits / 8 + 1;
    unsigned char *buf = PyMem_Malloc(nbytes);
    if (buf == NULL) {
        PyErr_NoMemory();
        return -1;
    }
#if PY_VERSION_HEX >= 0x030D0000
    int bad = _PyLong_AsByteArray((PyLongObject *)o, buf, nbytes, 1, 1, 1);
#else
    int bad = _PyLong_AsByteArray((PyLongObject *)o, buf, nbytes, 1, 1);
#endif
    if (bad < 0) {
        PyMem_Free(buf);
        return -1;
    }
    *out = bytes_fp(0x6269672d696e74ULL + nbytes, buf, nbytes);
    PyMem_Free(buf);
    return 0;
}

/* Deeper than this, a state is refused (RecursionError) rather than overflowing the C
   stack: nothing a spec makes nests nearly as deep (marshal, which moves and spills the
   states, stops at 2,000). */
#define MAX_DEPTH 1000

static int value_fp(PyObject *o, uint64_t *out, unsigned depth) {
    if (depth >= MAX_DEPTH && (PyTuple_Check(o) || PyFrozenSet_Check(o))) {
        PyErr_Format(PyExc_RecursionError, "cannot fingerprint a state nested more than "
                     "%d deep", MAX_DEPTH);
        return -1;
    }
    if (PyTuple_Check(o)) {             /* (a subclass equals the plain tuple) */
        Py_ssize_t n = PyTuple_GET_SIZE(o);
        uint64_t h = 0x7475706c65ULL + (uint64_t)n;
        for (Py_ssize_t i = 0; i < n; i++) {
            uint64_t v;
            if (value_fp(PyTuple_GET_ITEM(o, i), &v, depth + 1) < 0)
                return -1;
            h = combine(h, v);
        }
        *out = h;
        return 0;
    }
    if (PyLong_Check(o)) {          /* bools too: True == 1, as the seen set must agree */
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
        if (overflow)
            return big_int_fp(o, out);
        if (v == -1 && PyErr_Occurred())
            return -1;
        *out = mix64((uint64_t)v ^ 0x696e74ULL);
        return 0;
    }
    if (o == Py_None) {
        *out = 0x4e6f6e65ULL;
        return 0;
    }
    if (PyUnicode_Check(o)) {
        /* Its code points as stored: equal strings are stored alike (the narrowest kind
           that holds them), and no UTF-8 copy is made (and kept on the string), which
           lone surrogates would refuse. */
#if PY_VERSION_HEX < 0x030C0000
        if (PyUnicode_READY(o) < 0)
            return -1;
#endif
        uint64_t len = (uint64_t)PyUnicode_GET_LENGTH(o), kind = PyUnicode_KIND(o);
        *out = bytes_fp(0x737472ULL + len + (kind << 56),
                        (const unsigned char *)PyUnicode_DATA(o), (size_t)(len * kind));
        return 0;
    }
    if (PyFrozenSet_Check(o)) {         /* in no particular order: a commutative sum */
        PyObject *it = PyObject_GetIter(o), *item;
        if (it == NULL)
            return -1;
        uint64_t sum = 0x66726f7a656eULL;
        while ((item = PyIter_Next(it)) != NULL) {
            uint64_t v;
            int bad = value_fp(item, &v, depth + 1);
            Py_DECREF(item);
            if (bad < 0) {
                Py_DECREF(it);
                return -1;
            }
            sum += mix64(v);
        }
        Py_DECREF(it);
        if (PyErr_Occurred())
            return -1;
        *out = mix64(sum);
        return 0;
    }
    PyErr_Format(PyExc_TypeError,
                 "cannot fingerprint a state holding a %.100s (states must be made of "
                 "ints, bools, None, strings, tuples and frozensets); use --exact",
                 Py_TYPE(o)->tp_name);
    return -1;
}

static int state_fp(PyObject *o, uint64_t *out) {
    uint64_t fp;
    if (value_fp(o, &fp, 0) < 0)
        return -1;
    *out = fp ? fp : 1;
    return 0;
}

/* ------------------------------------------------------------------ the table */

/* A lock word holds the id of the process holding it (0: free). A process killed while
   it holds one (the kernel's OOM killer, say, while a segment grows into new pages)
   would leave the others waiting for ever, and the coordinator waiting for them: a
   waiter looks from time to time whether the holder still lives, and gives up (-1)
   when it does not (the table may then be half changed: the search must stop). */
static uint32_t my_pid;
static uint32_t dead_holder;            /* the last one found (for the message) */

static void after_fork_in_child(void) { my_pid = (uint32_t)getpid(); }

static int process_dead(uint32_t pid) {
    if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
        return 1;
    /* a killed worker its coordinator has not reaped yet is a zombie */
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%u/stat", (unsigned)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;                       /* (no /proc: taken for alive) */
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');  /* "pid (name) state ..." */
    return p != NULL && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

#define YIELDS_BETWEEN_LOOKS 2048

static inline int lock(uint32_t *l) {
    unsigned spins = 0, yields = 0;
    for (;;) {
        uint32_t free_word = 0, owner;
        if (__atomic_compare_exchange_n(l, &free_word, my_pid, 0, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
            return 0;
        while ((owner = __atomic_load_n(l, __ATOMIC_RELAXED)) != 0) {
            if (++spins < 256)
                continue;
            sched_yield();
            spins = 0;
            if (++yields % YIELDS_BETWEEN_LOOKS == 0 && process_dead(owner)
                && __atomic_load_n(l, __ATOMIC_RELAXED) == owner) {
                dead_holder = owner;
                return -1;
            }
        }
    }
}

static inline void unlock(uint32_t *l) { __atomic_store_n(l, 0, __ATOMIC_RELEASE); }

static inline Segment *segment_of(Header *hd, uint64_t fp) {
    return &hd->seg[fp >> (64 - SEG_BITS)];
}

static inline uint64_t home(uint64_t fp, uint32_t bits) {
    /* (the segment took the top bits: the index comes from all of them, mixed) */
    return (fp * 0x9E3779B97F4A7C15ULL) >> (64 - bits);
}

static inline Slot *slots_of(char *base, Segment *sg) { return (Slot *)(base + sg->offset); }

static uint64_t block_bytes(uint32_t bits) { return ((uint64_t)sizeof(Slot)) << bits; }

/* A zeroed block of 1 << bits slots in *got, or 0 when the region is used up; -1 when
   a dead process holds the lock. */
static int take_block(char *base, uint32_t bits, uint64_t *got) {
    Header *hd = (Header *)base;
    uint64_t bytes = block_bytes(bits), off = 0;
    *got = 0;
    if (lock(&hd->alloc_lock) < 0)
        return -1;
    if (hd->in_use + bytes > hd->limit) {
        /* (the memory allowed is used up: a full table, whatever address space is left) */
    } else if (hd->free_list[bits]) {
        off = hd->free_list[bits];
        memcpy(&hd->free_list[bits], base + off, sizeof(uint64_t));
        memset(base + off, 0, bytes);
    } else if (hd->bump + bytes <= hd->size) {
        off = hd->bump;                 /* never touched: already zero */
        hd->bump += bytes;
    }
    if (off)
        hd->in_use += bytes;
    unlock(&hd->alloc_lock);
    *got = off;
    return 0;
}

static int give_block(char *base, uint64_t off, uint32_t bits) {
    Header *hd = (Header *)base;
    uint64_t bytes = block_bytes(bits);
    long page = sysconf(_SC_PAGESIZE);
    /* the whole pages inside the block go back to the system (they read as zeros) */
    uint64_t first = (off + sizeof(uint64_t) + page - 1) / page * page;
    uint64_t last = (off + bytes) / page * page;
    if (last > first)
        madvise(base + first, last - first, MADV_REMOVE);
    if (lock(&hd->alloc_lock) < 0)
        return -1;
    memcpy(base + off, &hd->free_list[bits], sizeof(uint64_t));
    hd->free_list[bits] = off;
    hd->in_use -= bytes;
    unlock(&hd->alloc_lock);
    return 0;
}

#define FULL (-1)                       /* the region is used up */
#define DEAD (-2)                       /* a dead process holds a lock */

/* Moves the segment's slots to a block twice as large; the segment's lock is held.
   0, FULL or DEAD. */
static int grow(char *base, Segment *sg) {
    uint32_t bits = sg->bits, nbits = bits + 1;
    uint64_t off;
    if (take_block(base, nbits, &off) < 0)
        return DEAD;
    if (off == 0)
        return FULL;
    Slot *old = slots_of(base, sg), *fresh = (Slot *)(base + off);
    uint64_t cap = 1ULL << bits, mask = (1ULL << nbits) - 1;
    for (uint64_t j = 0; j < cap; j++) {
        if (!old[j].fp)
            continue;
        uint64_t p = home(old[j].fp, nbits);
        while (fresh[p].fp)
            p = (p + 1) & mask;
        fresh[p] = old[j];
    }
    uint64_t was = sg->offset;
    sg->offset = off;
    sg->bits = nbits;
    return give_block(base, was, bits) < 0 ? DEAD : 0;
}

/* 1: stored; 0: already there (its parent then becomes the smaller of the two when both
   were found in the same level, so that a state's parent does not depend on which
   worker got there first); FULL: no room left; DEAD. ``store`` 0: only that check (2:
   absent). */
static int insert(char *base, uint64_t fp, uint64_t parent, uint64_t level, int store) {
    Header *hd = (Header *)base;
    Segment *sg = segment_of(hd, fp);
    if (lock(&sg->lock) < 0)
        return DEAD;
    Slot *slots = slots_of(base, sg);
    uint64_t mask = (1ULL << sg->bits) - 1, i = home(fp, sg->bits);
    for (;; i = (i + 1) & mask) {
        if (slots[i].fp == fp) {
            if (slots[i].level == level && parent < slots[i].parent)
                slots[i].parent = parent;
            unlock(&sg->lock);
            return 0;
        }
        if (slots[i].fp == 0)
            break;
    }
    if (!store) {
        unlock(&sg->lock);
        return 2;
    }
    /* kept at most 11/16 full */
    if ((sg->count + 1) * 16 > (11ULL << sg->bits)) {
        int bad = grow(base, sg);
        if (bad < 0) {
            if (bad == FULL)
                hd->full = 1;
            unlock(&sg->lock);
            return bad;
        }
        slots = slots_of(base, sg);
        mask = (1ULL << sg->bits) - 1;
        for (i = home(fp, sg->bits); slots[i].fp; i = (i + 1) & mask)
            ;
    }
    slots[i].fp = fp;
    slots[i].parent = parent;
    slots[i].level = level;
    sg->count++;
    unlock(&sg->lock);
    return 1;
}

/* The slot holding fp (a copy) in *got: 1, or 0 when fp is not there; DEAD. */
static int lookup(char *base, uint64_t fp, Slot *got) {
    Header *hd = (Header *)base;
    Segment *sg = segment_of(hd, fp);
    int found = 0;
    if (lock(&sg->lock) < 0)
        return DEAD;
    Slot *slots = slots_of(base, sg);
    uint64_t mask = (1ULL << sg->bits) - 1;
    for (uint64_t i = home(fp, sg->bits); slots[i].fp; i = (i + 1) & mask) {
        if (slots[i].fp == fp) {
            *got = slots[i];
            found = 1;
            break;
        }
    }
    unlock(&sg->lock);
    return found;
}

/* ------------------------------------------------------------------ the Python type */

static PyObject *TableFullError, *HolderDiedError;

/* NULL with the exception for FULL or DEAD */
static PyObject *table_error(SharedSeen *self, int why) {
    if (why == FULL) {
        /* (PyErr_Format has no %f) */
        Header *hd = (Header *)self->base;
        uint64_t allowed = hd->limit < hd->size ? hd->limit : hd->size;
        unsigned long long tenths = (allowed * 10 + (1 << 19)) >> 20;
        PyErr_Format(TableFullError, "the shared seen set is full: the %llu.%llu MiB "
                     "allowed for it are used up", tenths / 10, tenths % 10);
    }
    else
        PyErr_Format(HolderDiedError, "process %u died while it held a lock of the "
                     "shared seen set (which may be half changed)", (unsigned)dead_holder);
    return NULL;
}

static int closed(SharedSeen *self) {
    if (self->base != NULL)
        return 0;
    PyErr_SetString(PyExc_ValueError, "the shared seen set is closed");
    return 1;
}

static int parse_u64(PyObject *o, uint64_t *out) {
    unsigned long long v = PyLong_AsUnsignedLongLong(o);
    if (v == (unsigned long long)-1 && PyErr_Occurred())
        return -1;
    *out = v;
    return 0;
}

/* The arguments (key, parent_fp, level) of add, reached and add_fp: the key is a state
   (by_state) or a fingerprint. -1 with an exception set. */
static int insert_args(SharedSeen *self, PyObject *const *args, Py_ssize_t n,
                       const char *usage, int by_state, uint64_t *fp, uint64_t *parent,
                       uint64_t *level) {
    if (closed(self))
        return -1;
    if (n != 3) {
        PyErr_SetString(PyExc_TypeError, usage);
        return -1;
    }
    if ((by_state ? state_fp(args[0], fp) : parse_u64(args[0], fp)) < 0
        || parse_u64(args[1], parent) < 0 || parse_u64(args[2], level) < 0)
        return -1;
    if (*fp == 0) {
        PyErr_SetString(PyExc_ValueError, "a fingerprint is never 0");
        return -1;
    }
    return 0;
}

/* add(state, parent_fp, level) -> True when the state was not there */
static PyObject *SharedSeen_add(SharedSeen *self, PyObject *const *args, Py_ssize_t n) {
    uint64_t fp, parent, level;
    if (insert_args(self, args, n, "add(state, parent_fp, level)", 1, &fp, &parent,
                    &level) < 0)
        return NULL;
    int r = insert(self->base, fp, parent, level, 1);
    return r < 0 ? table_error(self, r) : PyBool_FromLong(r);
}

/* reached(state, parent_fp, level) -> True when the state is there, its parent then
   updated as by add; nothing is stored. (Before a successor is made canonical under
   symmetry: one already there is canonical.) */
static PyObject *SharedSeen_reached(SharedSeen *self, PyObject *const *args, Py_ssize_t n) {
    uint64_t fp, parent, level;
    if (insert_args(self, args, n, "reached(state, parent_fp, level)", 1, &fp, &parent,
                    &level) < 0)
        return NULL;
    int r = insert(self->base, fp, parent, level, 0);
    return r < 0 ? table_error(self, r) : PyBool_FromLong(r == 0);
}

/* add_fp(fp, parent_fp, level): as add, given the fingerprint */
static PyObject *SharedSeen_add_fp(SharedSeen *self, PyObject *const *args, Py_ssize_t n) {
    uint64_t fp, parent, level;
    if (insert_args(self, args, n, "add_fp(fp, parent_fp, level)", 0, &fp, &parent,
                    &level) < 0)
        return NULL;
    int r = insert(self->base, fp, parent, level, 1);
    return r < 0 ? table_error(self, r) : PyBool_FromLong(r);
}

static PyObject *SharedSeen_contains(SharedSeen *self, PyObject *state) {
    if (closed(self))
        return NULL;
    uint64_t fp;
    Slot got;
    if (state_fp(state, &fp) < 0)
        return NULL;
    int found = lookup(self->base, fp, &got);
    if (found < 0)
        return table_error(self, found);
    return PyBool_FromLong(found);
}

/* parent(fp) -> the parent's fingerprint (0 for an initial state), or None */
static PyObject *SharedSeen_parent(SharedSeen *self, PyObject *arg) {
    if (closed(self))
        return NULL;
    uint64_t fp;
    Slot got;
    if (parse_u64(arg, &fp) < 0)
        return NULL;
    int found = lookup(self->base, fp, &got);
    if (found < 0)
        return table_error(self, found);
    if (!found)
        Py_RETURN_NONE;
    return PyLong_FromUnsignedLongLong(got.parent);
}

static PyObject *SharedSeen_stats(SharedSeen *self, PyObject *unused) {
    if (closed(self))
        return NULL;
    Header *hd = (Header *)self->base;
    uint64_t count = 0, room = 0;
    for (unsigned i = 0; i < NSEG; i++) {
        Segment *sg = &hd->seg[i];
        if (lock(&sg->lock) < 0)
            return table_error(self, DEAD);
        uint64_t most = (11ULL << sg->bits) / 16;
        count += sg->count;
        room += most > sg->count ? most - sg->count : 0;
        unlock(&sg->lock);
    }
    if (lock(&hd->alloc_lock) < 0)
        return table_error(self, DEAD);
    uint64_t in_use = hd->in_use, bump = hd->bump;
    unlock(&hd->alloc_lock);
    /* count, room (states it holds before a segment grows), bytes of slots in use, bytes
       of the region touched so far, bytes reserved */
    return Py_BuildValue("(KKKKK)", (unsigned long long)count, (unsigned long long)room,
                         (unsigned long long)in_use, (unsigned long long)bump,
                         (unsigned long long)hd->size);
}

/* _hold(fp): takes the lock of fp's segment and keeps it (for the tests: a process that
   dies holding it) */
static PyObject *SharedSeen_hold(SharedSeen *self, PyObject *arg) {
    uint64_t fp;
    if (closed(self) || parse_u64(arg, &fp) < 0)
        return NULL;
    if (lock(&segment_of((Header *)self->base, fp)->lock) < 0)
        return table_error(self, DEAD);
    Py_RETURN_NONE;
}

/* close(): unmaps the table (in this process; forked ones keep their mapping) */
static PyObject *SharedSeen_close(SharedSeen *self, PyObject *unused) {
    if (self->base != NULL) {
        munmap(self->base, self->size);
        self->base = NULL;
    }
    Py_RETURN_NONE;
}

static int SharedSeen_init(SharedSeen *self, PyObject *args, PyObject *kwds) {
    static char *names[] = {"reserve", "limit", NULL};
    unsigned long long size, limit = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "K|K", names, &size, &limit))
        return -1;
    if (self->base != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "SharedSeen is initialized once");
        return -1;
    }
    uint64_t header = (sizeof(Header) + 63) & ~63ULL;
    uint64_t first = header + (uint64_t)NSEG * block_bytes(FIRST_BITS);
    if (size < 2 * first)
        size = 2 * first;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        if (errno == ENOMEM) {
            PyErr_SetString(PyExc_MemoryError,
                            "no address space for the shared seen set");
            return -1;
        }
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    self->base = p;
    self->size = size;
    Header *hd = p;
    hd->size = size;
    uint64_t off = header;
    for (unsigned i = 0; i < NSEG; i++) {
        hd->seg[i].offset = off;
        hd->seg[i].bits = FIRST_BITS;
        off += block_bytes(FIRST_BITS);
    }
    hd->bump = off;
    hd->in_use = off - header;
    /* (0: as much as the reservation holds) */
    hd->limit = limit == 0 ? size : (limit < hd->in_use ? hd->in_use : limit);
    return 0;
}

static void SharedSeen_dealloc(SharedSeen *self) {
    if (self->base != NULL)
        munmap(self->base, self->size);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef SharedSeen_methods[] = {
    {"add", (PyCFunction)(void (*)(void))SharedSeen_add, METH_FASTCALL,
     "add(state, parent_fp, level) -> True when the state is new"},
    {"add_fp", (PyCFunction)(void (*)(void))SharedSeen_add_fp, METH_FASTCALL,
     "add_fp(fp, parent_fp, level) -> True when the fingerprint is new"},
    {"reached", (PyCFunction)(void (*)(void))SharedSeen_reached, METH_FASTCALL,
     "reached(state, parent_fp, level) -> True when the state is there (nothing stored)"},
    {"contains", (PyCFunction)SharedSeen_contains, METH_O, "whether the state is there"},
    {"parent", (PyCFunction)SharedSeen_parent, METH_O,
     "the parent's fingerprint (0: an initial state), or None"},
    {"_hold", (PyCFunction)SharedSeen_hold, METH_O,
     "takes the lock of the fingerprint's segment and keeps it (for tests)"},
    {"close", (PyCFunction)SharedSeen_close, METH_NOARGS,
     "unmaps the table in this process"},
    {"stats", (PyCFunction)SharedSeen_stats, METH_NOARGS,
     "(count, room, bytes in use, bytes touched, bytes reserved)"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject SharedSeenType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "checker._sharedseen.SharedSeen",
    .tp_doc = "SharedSeen(reserve): a seen set of fingerprints shared by forked processes",
    .tp_basicsize = sizeof(SharedSeen),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)SharedSeen_init,
    .tp_dealloc = (destructor)SharedSeen_dealloc,
    .tp_methods = SharedSeen_methods,
};

static PyObject *module_fingerprint(PyObject *module, PyObject *state) {
    uint64_t fp;
    if (state_fp(state, &fp) < 0)
        return NULL;
    return PyLong_FromUnsignedLongLong(fp);
}

static PyMethodDef module_methods[] = {
    {"fingerprint", (PyCFunction)module_fingerprint, METH_O,
     "a state's nonzero 64-bit fingerprint, the same in every process"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef sharedseen_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "checker._sharedseen",
    .m_doc = "A fingerprint seen set in memory shared by forked processes.",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__sharedseen(void) {
    static int atfork_done;
    if (!atfork_done) {
        my_pid = (uint32_t)getpid();
        if (pthread_atfork(NULL, NULL, after_fork_in_child) != 0) {
            PyErr_SetString(PyExc_RuntimeError, "pthread_atfork failed");
            return NULL;
        }
        atfork_done = 1;
    }
    if (PyType_Ready(&SharedSeenType) < 0)
        return NULL;
    if (TableFullError == NULL) {
        /* (a MemoryError: the search stops with its statistics, exit 3) */
        TableFullError = PyErr_NewExceptionWithDoc(
            "checker._sharedseen.TableFullError",
            "The memory reserved for the shared seen set is used up.", PyExc_MemoryError,
            NULL);
        if (TableFullError == NULL)
            return NULL;
    }
    if (HolderDiedError == NULL) {
        HolderDiedError = PyErr_NewExceptionWithDoc(
            "checker._sharedseen.HolderDiedError",
            "A process died while it held a lock of the shared seen set.",
            PyExc_RuntimeError, NULL);
        if (HolderDiedError == NULL)
            return NULL;
    }
    PyObject *m = PyModule_Create(&sharedseen_module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&SharedSeenType);
    if (PyModule_AddObject(m, "SharedSeen", (PyObject *)&SharedSeenType) < 0) {
        Py_DECREF(&SharedSeenType);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(TableFullError);
    if (PyModule_AddObject(m, "TableFullError", TableFullError) < 0) {
        Py_DECREF(TableFullError);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(HolderDiedError);
    if (PyModule_AddObject(m, "HolderDiedError", HolderDiedError) < 0) {
        Py_DECREF(HolderDiedError);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
