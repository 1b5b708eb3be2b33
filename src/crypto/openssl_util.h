// Small RAII and error helpers for code that talks to OpenSSL directly (crypto, pki,
// transport). Not part of the crypto API proper: it exists so each caller does not grow its
// own copy of the BIO plumbing and the error-queue draining.
//
// Thread-safety: OpenSSL's error queue is per thread, so TakeOpenSslErrors reports only the
// calling thread's failures.
#pragma once

#include <openssl/bio.h>

#include <memory>
#include <string>
#include <string_view>

namespace vigil::crypto {

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free_all(bio); }
};
using BioPointer = std::unique_ptr<BIO, BioDeleter>;

// A read-only memory BIO over `text`, which must outlive the BIO. Null only when OpenSSL
// cannot allocate.
BioPointer NewReadOnlyBio(std::string_view text);
// A growable memory BIO for PEM_write_bio_* output.
BioPointer NewMemoryBio();
// Everything written to a memory BIO so far.
std::string MemoryBioContents(BIO* bio);

// Drains this thread's OpenSSL error queue and returns its entries joined by "; ", or
// "no detail from OpenSSL" when empty. Draining matters: a stale entry would otherwise be
// blamed for the next, unrelated failure on this thread.
std::string TakeOpenSslErrors();

// A pem_password_cb that refuses every passphrase request. Vigil key files are never
// encrypted (their protection is the file mode); without this callback OpenSSL would prompt
// on the terminal when handed an encrypted key, which would hang a daemon.
int RefusePassphrase(char* buffer, int size, int rwflag, void* user_data);

}  // namespace vigil::crypto
