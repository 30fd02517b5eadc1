/* libcrypto on demand: OpenSSL's libcrypto.so.3 is loaded the first time one of its functions is called, not at
 * every start.
 *
 * libldns (linked statically by scripts/build-release.sh) calls OpenSSL only to sign, verify, hash keys and make
 * keys. Linking libcrypto.so.3 the ordinary way makes the dynamic loader map it and resolve its 3,500 symbol
 * relocations before main, ~1.6 ms of every start, although a config without DNSSEC never calls it. Here every
 * libcrypto function that ldns uses is defined with OpenSSL's own prototype (the compiler checks each definition
 * against the header's declaration), and forwards to the real one, found once with dlvsym in libcrypto.so.3, which
 * is loaded at the first call. The library stays Debian's shared one, so its security updates reach gtmd.
 *
 * The release link has no -lcrypto: a libcrypto function that ldns starts to use and that is missing here is an
 * undefined symbol there, named by the linker; add it below with the header's prototype. In a build that links
 * libldns.so (the debug build) libcrypto.so.3 is loaded by ldns anyway and ldns's calls come through here too.
 */
#define _GNU_SOURCE
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include "libcrypto_on_demand.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/dsa.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/md5.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/ui.h>
#include <openssl/x509.h>

#define LIBCRYPTO_SONAME "libcrypto.so.3"
#define LIBCRYPTO_VERSION "OPENSSL_3.0.0"

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static void *_Atomic library;
static char load_error[256];

static void load(void) {
    void *h = dlopen(LIBCRYPTO_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (h) {
        atomic_store_explicit(&library, h, memory_order_release);
    } else {
        const char *e = dlerror();
        snprintf(load_error, sizeof load_error, "%s", e ? e : "cannot load " LIBCRYPTO_SONAME);
    }
}

const char *gtmd_libcrypto_load(void) {
    pthread_once(&load_once, load);
    return atomic_load_explicit(&library, memory_order_acquire) ? NULL : load_error;
}

int gtmd_libcrypto_loaded(void) { return atomic_load_explicit(&library, memory_order_acquire) != NULL; }

int gtmd_libcrypto_sha256(const void *bytes, unsigned long count, unsigned char *digest) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx) return -1;
    unsigned int len = 0;
    int ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 && EVP_DigestUpdate(ctx, bytes, count) == 1 &&
             EVP_DigestFinal_ex(ctx, digest, &len) == 1 && len == 32;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : -1;
}

/* The real function `name`, looked up once and kept in `slot`. A function of libcrypto cannot return an error
 * of its own kind from here, so a library that cannot be loaded (or lacks the symbol) ends the process with the
 * reason; callers avoid that with gtmd_libcrypto_load first. */
__attribute__((noinline, cold)) static void *resolve_slow(void *_Atomic *slot, const char *name) {
    const char *why = gtmd_libcrypto_load();
    if (why) {
        fprintf(stderr, "gtmd: %s (for %s): %s\n", LIBCRYPTO_SONAME, name, why);
        abort();
    }
    void *f = dlvsym(atomic_load_explicit(&library, memory_order_acquire), name, LIBCRYPTO_VERSION);
    if (!f) {
        const char *e = dlerror();
        fprintf(stderr, "gtmd: %s has no %s@%s: %s\n", LIBCRYPTO_SONAME, name, LIBCRYPTO_VERSION, e ? e : "");
        abort();
    }
    atomic_store_explicit(slot, f, memory_order_release);
    return f;
}

static inline void *resolve(void *_Atomic *slot, const char *name) {
    void *f = atomic_load_explicit(slot, memory_order_acquire);
    return f ? f : resolve_slow(slot, name);
}

/* The function `name` of libcrypto, typed as the header declares it. */
#define REAL(name) \
    ({ \
        static void *_Atomic slot_; \
        (__typeof__(&name))resolve(&slot_, #name); \
    })

/* Every libcrypto function that libldns calls (`nm -D --undefined-only` of a gtmd linked with -lcrypto). */
BIGNUM *BN_bin2bn(const unsigned char *s, int len, BIGNUM *ret) { return REAL(BN_bin2bn)(s, len, ret); }
int BN_bn2bin(const BIGNUM *a, unsigned char *to) { return REAL(BN_bn2bin)(a, to); }
void BN_free(BIGNUM *a) { REAL(BN_free)(a); }
BIGNUM *BN_new(void) { return REAL(BN_new)(); }
int BN_num_bits(const BIGNUM *a) { return REAL(BN_num_bits)(a); }
void CRYPTO_free(void *ptr, const char *file, int line) { REAL(CRYPTO_free)(ptr, file, line); }
int CRYPTO_memcmp(const void *in_a, const void *in_b, size_t len) { return REAL(CRYPTO_memcmp)(in_a, in_b, len); }
DSA_SIG *d2i_DSA_SIG(DSA_SIG **a, const unsigned char **in, long len) { return REAL(d2i_DSA_SIG)(a, in, len); }
ECDSA_SIG *d2i_ECDSA_SIG(ECDSA_SIG **a, const unsigned char **in, long len) {
    return REAL(d2i_ECDSA_SIG)(a, in, len);
}
EVP_PKEY *d2i_PrivateKey(int type, EVP_PKEY **a, const unsigned char **pp, long length) {
    return REAL(d2i_PrivateKey)(type, a, pp, length);
}
EVP_PKEY *d2i_PUBKEY(EVP_PKEY **a, const unsigned char **in, long len) { return REAL(d2i_PUBKEY)(a, in, len); }
DSA_SIG *DSA_do_sign(const unsigned char *dgst, int dlen, DSA *dsa) { return REAL(DSA_do_sign)(dgst, dlen, dsa); }
void DSA_free(DSA *r) { REAL(DSA_free)(r); }
int DSA_generate_key(DSA *a) { return REAL(DSA_generate_key)(a); }
int DSA_generate_parameters_ex(DSA *dsa, int bits, const unsigned char *seed, int seed_len, int *counter_ret,
    unsigned long *h_ret, BN_GENCB *cb) {
    return REAL(DSA_generate_parameters_ex)(dsa, bits, seed, seed_len, counter_ret, h_ret, cb);
}
void DSA_get0_key(const DSA *d, const BIGNUM **pub_key, const BIGNUM **priv_key) {
    REAL(DSA_get0_key)(d, pub_key, priv_key);
}
void DSA_get0_pqg(const DSA *d, const BIGNUM **p, const BIGNUM **q, const BIGNUM **g) {
    REAL(DSA_get0_pqg)(d, p, q, g);
}
DSA *DSA_new(void) { return REAL(DSA_new)(); }
int DSA_set0_key(DSA *d, BIGNUM *pub_key, BIGNUM *priv_key) { return REAL(DSA_set0_key)(d, pub_key, priv_key); }
int DSA_set0_pqg(DSA *d, BIGNUM *p, BIGNUM *q, BIGNUM *g) { return REAL(DSA_set0_pqg)(d, p, q, g); }
void DSA_SIG_free(DSA_SIG *a) { REAL(DSA_SIG_free)(a); }
void DSA_SIG_get0(const DSA_SIG *sig, const BIGNUM **pr, const BIGNUM **ps) { REAL(DSA_SIG_get0)(sig, pr, ps); }
DSA_SIG *DSA_SIG_new(void) { return REAL(DSA_SIG_new)(); }
int DSA_SIG_set0(DSA_SIG *sig, BIGNUM *r, BIGNUM *s) { return REAL(DSA_SIG_set0)(sig, r, s); }
const EC_POINT *EC_GROUP_get0_generator(const EC_GROUP *group) { return REAL(EC_GROUP_get0_generator)(group); }
int EC_GROUP_get_curve_name(const EC_GROUP *group) { return REAL(EC_GROUP_get_curve_name)(group); }
void EC_KEY_free(EC_KEY *key) { REAL(EC_KEY_free)(key); }
int EC_KEY_generate_key(EC_KEY *key) { return REAL(EC_KEY_generate_key)(key); }
const EC_GROUP *EC_KEY_get0_group(const EC_KEY *key) { return REAL(EC_KEY_get0_group)(key); }
const BIGNUM *EC_KEY_get0_private_key(const EC_KEY *key) { return REAL(EC_KEY_get0_private_key)(key); }
EC_KEY *EC_KEY_new_by_curve_name(int nid) { return REAL(EC_KEY_new_by_curve_name)(nid); }
void EC_KEY_set_conv_form(EC_KEY *eckey, point_conversion_form_t cform) {
    REAL(EC_KEY_set_conv_form)(eckey, cform);
}
int EC_KEY_set_private_key(EC_KEY *key, const BIGNUM *prv) { return REAL(EC_KEY_set_private_key)(key, prv); }
int EC_KEY_set_public_key(EC_KEY *key, const EC_POINT *pub) { return REAL(EC_KEY_set_public_key)(key, pub); }
int EC_POINT_copy(EC_POINT *dst, const EC_POINT *src) { return REAL(EC_POINT_copy)(dst, src); }
void EC_POINT_free(EC_POINT *point) { REAL(EC_POINT_free)(point); }
int EC_POINT_mul(const EC_GROUP *group, EC_POINT *r, const BIGNUM *n, const EC_POINT *q, const BIGNUM *m,
    BN_CTX *ctx) {
    return REAL(EC_POINT_mul)(group, r, n, q, m, ctx);
}
EC_POINT *EC_POINT_new(const EC_GROUP *group) { return REAL(EC_POINT_new)(group); }
void ECDSA_SIG_free(ECDSA_SIG *sig) { REAL(ECDSA_SIG_free)(sig); }
void ECDSA_SIG_get0(const ECDSA_SIG *sig, const BIGNUM **pr, const BIGNUM **ps) {
    REAL(ECDSA_SIG_get0)(sig, pr, ps);
}
EVP_PKEY *ENGINE_load_private_key(ENGINE *e, const char *key_id, UI_METHOD *ui_method, void *callback_data) {
    return REAL(ENGINE_load_private_key)(e, key_id, ui_method, callback_data);
}
void ERR_print_errors_fp(FILE *fp) { REAL(ERR_print_errors_fp)(fp); }
int EVP_DigestFinal_ex(EVP_MD_CTX *ctx, unsigned char *md, unsigned int *s) {
    return REAL(EVP_DigestFinal_ex)(ctx, md, s);
}
int EVP_DigestInit(EVP_MD_CTX *ctx, const EVP_MD *type) { return REAL(EVP_DigestInit)(ctx, type); }
int EVP_DigestInit_ex(EVP_MD_CTX *ctx, const EVP_MD *type, ENGINE *impl) {
    return REAL(EVP_DigestInit_ex)(ctx, type, impl);
}
int EVP_DigestSign(EVP_MD_CTX *ctx, unsigned char *sigret, size_t *siglen, const unsigned char *tbs, size_t tbslen) {
    return REAL(EVP_DigestSign)(ctx, sigret, siglen, tbs, tbslen);
}
int EVP_DigestSignInit(EVP_MD_CTX *ctx, EVP_PKEY_CTX **pctx, const EVP_MD *type, ENGINE *e, EVP_PKEY *pkey) {
    return REAL(EVP_DigestSignInit)(ctx, pctx, type, e, pkey);
}
int EVP_DigestUpdate(EVP_MD_CTX *ctx, const void *d, size_t cnt) { return REAL(EVP_DigestUpdate)(ctx, d, cnt); }
int EVP_DigestVerify(EVP_MD_CTX *ctx, const unsigned char *sigret, size_t siglen, const unsigned char *tbs,
    size_t tbslen) {
    return REAL(EVP_DigestVerify)(ctx, sigret, siglen, tbs, tbslen);
}
int EVP_DigestVerifyInit(EVP_MD_CTX *ctx, EVP_PKEY_CTX **pctx, const EVP_MD *type, ENGINE *e, EVP_PKEY *pkey) {
    return REAL(EVP_DigestVerifyInit)(ctx, pctx, type, e, pkey);
}
const EVP_MD *EVP_md5(void) { return REAL(EVP_md5)(); }
void EVP_MD_CTX_free(EVP_MD_CTX *ctx) { REAL(EVP_MD_CTX_free)(ctx); }
EVP_MD_CTX *EVP_MD_CTX_new(void) { return REAL(EVP_MD_CTX_new)(); }
int EVP_PKEY_assign(EVP_PKEY *pkey, int type, void *key) { return REAL(EVP_PKEY_assign)(pkey, type, key); }
void EVP_PKEY_CTX_free(EVP_PKEY_CTX *ctx) { REAL(EVP_PKEY_CTX_free)(ctx); }
EVP_PKEY_CTX *EVP_PKEY_CTX_new_id(int id, ENGINE *e) { return REAL(EVP_PKEY_CTX_new_id)(id, e); }
int EVP_PKEY_CTX_set_rsa_keygen_bits(EVP_PKEY_CTX *ctx, int bits) {
    return REAL(EVP_PKEY_CTX_set_rsa_keygen_bits)(ctx, bits);
}
void EVP_PKEY_free(EVP_PKEY *pkey) { REAL(EVP_PKEY_free)(pkey); }
struct dsa_st *EVP_PKEY_get1_DSA(EVP_PKEY *pkey) { return REAL(EVP_PKEY_get1_DSA)(pkey); }
struct ec_key_st *EVP_PKEY_get1_EC_KEY(EVP_PKEY *pkey) { return REAL(EVP_PKEY_get1_EC_KEY)(pkey); }
struct rsa_st *EVP_PKEY_get1_RSA(EVP_PKEY *pkey) { return REAL(EVP_PKEY_get1_RSA)(pkey); }
int EVP_PKEY_get_base_id(const EVP_PKEY *pkey) { return REAL(EVP_PKEY_get_base_id)(pkey); }
int EVP_PKEY_get_id(const EVP_PKEY *pkey) { return REAL(EVP_PKEY_get_id)(pkey); }
int EVP_PKEY_keygen(EVP_PKEY_CTX *ctx, EVP_PKEY **ppkey) { return REAL(EVP_PKEY_keygen)(ctx, ppkey); }
int EVP_PKEY_keygen_init(EVP_PKEY_CTX *ctx) { return REAL(EVP_PKEY_keygen_init)(ctx); }
EVP_PKEY *EVP_PKEY_new(void) { return REAL(EVP_PKEY_new)(); }
int EVP_PKEY_set1_DSA(EVP_PKEY *pkey, struct dsa_st *key) { return REAL(EVP_PKEY_set1_DSA)(pkey, key); }
int EVP_PKEY_set1_RSA(EVP_PKEY *pkey, struct rsa_st *key) { return REAL(EVP_PKEY_set1_RSA)(pkey, key); }
const EVP_MD *EVP_sha1(void) { return REAL(EVP_sha1)(); }
const EVP_MD *EVP_sha256(void) { return REAL(EVP_sha256)(); }
const EVP_MD *EVP_sha384(void) { return REAL(EVP_sha384)(); }
const EVP_MD *EVP_sha512(void) { return REAL(EVP_sha512)(); }
int EVP_SignFinal(EVP_MD_CTX *ctx, unsigned char *md, unsigned int *s, EVP_PKEY *pkey) {
    return REAL(EVP_SignFinal)(ctx, md, s, pkey);
}
int EVP_VerifyFinal(EVP_MD_CTX *ctx, const unsigned char *sigbuf, unsigned int siglen, EVP_PKEY *pkey) {
    return REAL(EVP_VerifyFinal)(ctx, sigbuf, siglen, pkey);
}
unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len, const unsigned char *data, size_t data_len,
    unsigned char *md, unsigned int *md_len) {
    return REAL(HMAC)(evp_md, key, key_len, data, data_len, md, md_len);
}
int i2d_DSA_SIG(const DSA_SIG *a, unsigned char **out) { return REAL(i2d_DSA_SIG)(a, out); }
int i2d_PrivateKey(const EVP_PKEY *a, unsigned char **pp) { return REAL(i2d_PrivateKey)(a, pp); }
int i2d_PUBKEY(const EVP_PKEY *a, unsigned char **out) { return REAL(i2d_PUBKEY)(a, out); }
int i2o_ECPublicKey(const EC_KEY *key, unsigned char **out) { return REAL(i2o_ECPublicKey)(key, out); }
unsigned char *MD5(const unsigned char *d, size_t n, unsigned char *md) { return REAL(MD5)(d, n, md); }
EC_KEY *o2i_ECPublicKey(EC_KEY **key, const unsigned char **in, long len) {
    return REAL(o2i_ECPublicKey)(key, in, len);
}
int RAND_bytes(unsigned char *buf, int num) { return REAL(RAND_bytes)(buf, num); }
void RAND_seed(const void *buf, int num) { REAL(RAND_seed)(buf, num); }
void RSA_free(RSA *r) { REAL(RSA_free)(r); }
void RSA_get0_crt_params(const RSA *r, const BIGNUM **dmp1, const BIGNUM **dmq1, const BIGNUM **iqmp) {
    REAL(RSA_get0_crt_params)(r, dmp1, dmq1, iqmp);
}
void RSA_get0_factors(const RSA *r, const BIGNUM **p, const BIGNUM **q) { REAL(RSA_get0_factors)(r, p, q); }
void RSA_get0_key(const RSA *r, const BIGNUM **n, const BIGNUM **e, const BIGNUM **d) {
    REAL(RSA_get0_key)(r, n, e, d);
}
RSA *RSA_new(void) { return REAL(RSA_new)(); }
int RSA_set0_crt_params(RSA *r, BIGNUM *dmp1, BIGNUM *dmq1, BIGNUM *iqmp) {
    return REAL(RSA_set0_crt_params)(r, dmp1, dmq1, iqmp);
}
int RSA_set0_factors(RSA *r, BIGNUM *p, BIGNUM *q) { return REAL(RSA_set0_factors)(r, p, q); }
int RSA_set0_key(RSA *r, BIGNUM *n, BIGNUM *e, BIGNUM *d) { return REAL(RSA_set0_key)(r, n, e, d); }
int RSA_sign(int type, const unsigned char *m, unsigned int m_length, unsigned char *sigret, unsigned int *siglen,
    RSA *rsa) {
    return REAL(RSA_sign)(type, m, m_length, sigret, siglen, rsa);
}
unsigned char *SHA1(const unsigned char *d, size_t n, unsigned char *md) { return REAL(SHA1)(d, n, md); }
unsigned char *SHA384(const unsigned char *d, size_t n, unsigned char *md) { return REAL(SHA384)(d, n, md); }
UI_METHOD *UI_OpenSSL(void) { return REAL(UI_OpenSSL)(); }
