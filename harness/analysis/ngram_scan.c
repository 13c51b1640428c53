/* The classifier's decision, text by text, in C: n-gram search in NgramIndex's table plus the TF-IDF dot product.
 *
 * Why C: in numpy every step of the search (packing the keys of a batch's windows, hashing them, probing,
 * counting each text's n-grams with np.unique, two np.bincount) is a pass over the whole batch; inside the
 * audit they cost about 5 us a post, a tenth of all analysis.  One loop per text here does the same work:
 * 1.8 us a post inside the audit (benchmarks/README.md, "The n-gram scan in C").  The numpy path in ngram_index.py and classifier.py stays: it is the reference this file is tested
 * against (tests/test_ngram_scan.py) and what runs where this optional extension was not built.
 *
 * Contract (harness.analysis.ngram_index and classifier.ClassifierModel.decision own the rules):
 * - a text is read as ngram_index.whitespace_runs_as_one_space gives it (runs of str.split's whitespace,
 *   Py_UNICODE_ISSPACE, made one space; none at the ends);
 * - a text's windows are its n-grams of low..high code points; the key of a window packs each
 *   code point + 1 into BITS (21) bits, first character highest (ngram_index.packed_key);
 * - the table is NgramIndex's: open addressing, linear probing without wrap-around, home slot
 *   (key * MULT mod 2^64) >> shift, EMPTY (-1) ends a probe, the last slot is always empty;
 * - a text's value of column j, met c times, is tf[c] * idf[j] (tf[c] = 1 + ln c, passed in so that
 *   both paths use the same numbers); the result is dot / norm with dot = sum value * coef[j] and
 *   norm = sqrt(sum value^2), both summed over the text's columns in increasing order (the order
 *   np.bincount adds them in), and 0 where the text has no n-gram of the vocabulary.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#define BITS 21
#define MAX_N 3
#define EMPTY (-1)
static const uint64_t MULT = 0x9E3779B97F4A7C15ULL;

typedef struct {
    Py_buffer keys, cols, idf, coef, tf, out;
    int held; /* how many of the buffers above are held, in that order */
} Views;

static void release(Views *v) {
    Py_buffer *all[] = {&v->keys, &v->cols, &v->idf, &v->coef, &v->tf, &v->out};
    for (int i = 0; i < v->held; i++) PyBuffer_Release(all[i]);
}

/* Take the buffer of obj, C-contiguous, of items of the given size and format kind ('q' int64, 'i' int32, 'd'). */
static int view(PyObject *obj, Py_buffer *buf, Py_ssize_t itemsize, char kind, int writable, const char *name,
                Views *v) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, buf, flags) < 0) return -1;
    v->held++;
    const char *fmt = buf->format ? buf->format : "B";
    if (*fmt == '<' || *fmt == '=' || *fmt == '@') fmt++;
    char got = *fmt == 'l' && buf->itemsize == 8 ? 'q' : *fmt;
    if (buf->itemsize != itemsize || got != kind) {
        PyErr_Format(PyExc_TypeError, "%s: expected items of format '%c' (%zd bytes), got '%s'", name, kind,
                     itemsize, buf->format ? buf->format : "B");
        return -1;
    }
    return 0;
}

/* A text's columns, counted, and walked in increasing order without sorting: a count per column, a bit per
 * column met, and a bit per 64-column word met (a post meets a few dozen of a vocabulary's thousands of
 * columns; sorting them cost more than finding them).  Everything is zero again after each walk. */
typedef struct {
    int32_t *counts;
    uint64_t *bits, *words;
    Py_ssize_t nwords;
} Tally;

static int tally_open(Tally *t, Py_ssize_t vocab) {
    Py_ssize_t nbits = (vocab + 63) / 64 + 1;
    t->nwords = (nbits + 63) / 64;
    t->counts = calloc((size_t)vocab + 1, sizeof *t->counts);
    t->bits = calloc((size_t)nbits, sizeof *t->bits);
    t->words = calloc((size_t)t->nwords, sizeof *t->words);
    return t->counts && t->bits && t->words ? 0 : -1;
}

static void tally_close(Tally *t) {
    free(t->counts);
    free(t->bits);
    free(t->words);
}

static inline void tally_add(Tally *t, int32_t col) {
    if (t->counts[col]++ == 0) {
        t->bits[col >> 6] |= 1ULL << (col & 63);
        t->words[col >> 12] |= 1ULL << ((col >> 6) & 63);
    }
}

/* The column of key, probing from its home slot, or -1. */
static inline int32_t lookup(const int64_t *keys, const int32_t *cols, Py_ssize_t size, Py_ssize_t slot,
                             int64_t key) {
    for (; slot < size && keys[slot] != EMPTY; slot++)
        if (keys[slot] == key) return cols[slot];
    return -1;
}

static PyObject *decisions(PyObject *self, PyObject *args) {
    PyObject *texts, *keys_obj, *cols_obj, *idf_obj, *coef_obj, *tf_obj, *out_obj;
    int low, high, shift;
    if (!PyArg_ParseTuple(args, "O!iiiOOOOOO:decisions", &PyList_Type, &texts, &low, &high, &shift, &keys_obj,
                          &cols_obj, &idf_obj, &coef_obj, &tf_obj, &out_obj))
        return NULL;
    if (!(0 < low && low <= high && high <= MAX_N) || shift < 1 || shift > 63)
        return PyErr_Format(PyExc_ValueError, "n-gram sizes %d-%d (1-%d) or shift %d out of range", low, high,
                            MAX_N, shift);
    Views v = {.held = 0};
    uint32_t *codes = NULL;
    int64_t *wins = NULL; /* a text's window keys, and their home slots */
    Py_ssize_t *homes = NULL;
    Tally tally = {NULL, NULL, NULL, 0};
    PyObject *result = NULL;
    if (view(keys_obj, &v.keys, 8, 'q', 0, "keys", &v) || view(cols_obj, &v.cols, 4, 'i', 0, "cols", &v) ||
        view(idf_obj, &v.idf, 8, 'd', 0, "idf", &v) || view(coef_obj, &v.coef, 8, 'd', 0, "coef", &v) ||
        view(tf_obj, &v.tf, 8, 'd', 0, "tf", &v) || view(out_obj, &v.out, 8, 'd', 1, "out", &v))
        goto done;
    Py_ssize_t n = PyList_GET_SIZE(texts), size = v.keys.len / 8, vocab = v.idf.len / 8, tf_len = v.tf.len / 8;
    if (v.cols.len / 4 != size || v.coef.len / 8 != vocab || v.out.len / 8 != n) {
        PyErr_SetString(PyExc_ValueError, "table keys and columns, idf and coef, or out and texts differ in length");
        goto done;
    }
    const int64_t *keys = v.keys.buf;
    const int32_t *cols = v.cols.buf;
    const double *idf = v.idf.buf, *coef = v.coef.buf, *tf = v.tf.buf;
    double *out = v.out.buf;
    if (tally_open(&tally, vocab) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t room = 0;
    for (Py_ssize_t d = 0; d < n; d++) {
        PyObject *text = PyList_GET_ITEM(texts, d);
        if (!PyUnicode_Check(text)) {
            PyErr_Format(PyExc_TypeError, "texts[%zd] is not a str", d);
            goto done;
        }
        Py_ssize_t len = PyUnicode_GET_LENGTH(text);
        if (len >= tf_len) {
            PyErr_Format(PyExc_ValueError, "tf has %zd entries; texts[%zd] needs %zd", tf_len, d, len + 1);
            goto done;
        }
        if (len > room) {
            room = len * 2;
            free(codes);
            free(wins);
            free(homes);
            codes = malloc((size_t)room * sizeof *codes);
            wins = malloc((size_t)room * MAX_N * sizeof *wins);
            homes = malloc((size_t)room * MAX_N * sizeof *homes);
            if (!codes || !wins || !homes) {
                PyErr_NoMemory();
                goto done;
            }
        }
        int kind = PyUnicode_KIND(text);
        const void *data = PyUnicode_DATA(text);
        /* the text as ngram_index.whitespace_runs_as_one_space gives it (str.split's whitespace is
         * Py_UNICODE_ISSPACE): runs made one space, none at the ends; each code point + 1 */
        Py_ssize_t kept = 0;
        int gap = 0;
        for (Py_ssize_t i = 0; i < len; i++) {
            Py_UCS4 ch = PyUnicode_READ(kind, data, i);
            if (Py_UNICODE_ISSPACE(ch)) {
                gap = kept > 0;
                continue;
            }
            if (gap) codes[kept++] = ' ' + 1;
            gap = 0;
            codes[kept++] = ch + 1;
        }
        len = kept;
        /* Two passes: every window's home slot first, prefetched, then the probes.  Inside the audit MeCab
         * and the lexicon have pushed the table out of the nearer caches; the loads of a text's windows
         * then overlap instead of waiting one after another (2.1 -> 1.6 us a post between score_batch calls: benchmarks/README.md). */
        Py_ssize_t nwins = 0;
        for (int gram = low; gram <= high; gram++) {
            /* the key rolls: each step shifts in the next character and masks off the one that left */
            const int64_t mask = (int64_t)((1ULL << (BITS * gram)) - 1);
            int64_t key = 0;
            for (Py_ssize_t i = 0; i < len; i++) {
                key = ((key << BITS) | codes[i]) & mask;
                if (i + 1 < gram) continue;
                Py_ssize_t home = (Py_ssize_t)(((uint64_t)key * MULT) >> shift);
                __builtin_prefetch(keys + home);
                __builtin_prefetch(cols + home);
                wins[nwins] = key;
                homes[nwins++] = home;
            }
        }
        for (Py_ssize_t w = 0; w < nwins; w++) {
            int32_t col = lookup(keys, cols, size, homes[w], wins[w]);
            if (col < 0) continue;
            if (col >= vocab) {
                PyErr_Format(PyExc_ValueError, "table column %d is past the vocabulary (%zd)", col, vocab);
                goto done;
            }
            if (tally.counts[col] == 0) {
                __builtin_prefetch(idf + col);
                __builtin_prefetch(coef + col);
            }
            tally_add(&tally, col);
        }
        double dot = 0.0, norm2 = 0.0;
        for (Py_ssize_t s = 0; s < tally.nwords; s++) { /* the columns met, in increasing order; cleared */
            for (uint64_t words = tally.words[s]; words; words &= words - 1) {
                Py_ssize_t w = s * 64 + __builtin_ctzll(words);
                for (uint64_t bits = tally.bits[w]; bits; bits &= bits - 1) {
                    int32_t col = (int32_t)(w * 64 + __builtin_ctzll(bits));
                    double value = tf[tally.counts[col]] * idf[col];
                    tally.counts[col] = 0;
                    norm2 += value * value;
                    dot += value * coef[col];
                }
                tally.bits[w] = 0;
            }
            tally.words[s] = 0;
        }
        double norm = sqrt(norm2);
        out[d] = norm > 0 ? dot / norm : 0.0;
    }
    result = Py_NewRef(Py_None);
done:
    free(codes);
    free(wins);
    free(homes);
    tally_close(&tally);
    release(&v);
    return result;
}

static PyMethodDef methods[] = {
    {"decisions", decisions, METH_VARARGS,
     "decisions(texts, low, high, shift, keys, cols, idf, coef, tf, out): each text's l2-normalised TF-IDF dot "
     "product with coef (no intercept) into out; see the module source for the contract."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "ngram_scan",
                                    "The classifier's n-gram search and TF-IDF dot product in C (ngram_scan.c).",
                                    -1, methods};

PyMODINIT_FUNC PyInit_ngram_scan(void) {
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    /* the constants this file assumes, for tests/test_ngram_scan.py to hold against ngram_index's */
    PyObject *mult = PyLong_FromUnsignedLongLong(MULT);
    if (PyModule_AddIntConstant(m, "BITS", BITS) < 0 || PyModule_AddIntConstant(m, "MAX_N", MAX_N) < 0 ||
        PyModule_AddIntConstant(m, "EMPTY", EMPTY) < 0 || PyModule_AddObject(m, "MULT", mult) < 0) {
        Py_XDECREF(mult);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
