#ifndef GTMD_LIBCRYPTO_ON_DEMAND_H
#define GTMD_LIBCRYPTO_ON_DEMAND_H

/* Loads OpenSSL's libcrypto.so.3 now (once per process; later calls return the first result). Returns NULL, or
 * the dynamic loader's reason (a string that stays valid for the life of the process). Code that is about to sign
 * or verify calls this first, so that a missing library is an error it can report instead of an abort in the
 * middle of ldns. */
const char *gtmd_libcrypto_load(void);

/* 1 once libcrypto.so.3 has been loaded into this process (by gtmd_libcrypto_load or a first call), else 0. */
int gtmd_libcrypto_loaded(void);

/* SHA-256 of `count` bytes into `digest` (32 bytes) through the forwarding functions below (EVP_MD_CTX_new,
 * EVP_DigestInit_ex, EVP_sha256, EVP_DigestUpdate, EVP_DigestFinal_ex, EVP_MD_CTX_free): what a test calls to
 * see that a call here reaches the library. Returns 0, or -1 if libcrypto fails. */
int gtmd_libcrypto_sha256(const void *bytes, unsigned long count, unsigned char *digest);

#endif
