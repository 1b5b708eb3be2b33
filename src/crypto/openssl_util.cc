#include "crypto/openssl_util.h"

#include <openssl/err.h>

#include <climits>

#include "common/assert.h"

namespace vigil::crypto {

BioPointer NewReadOnlyBio(std::string_view text) {
  // BIO_new_mem_buf takes an int length; callers bound their input far below INT_MAX
  // (limits::kPemFileBytesMax), so this only guards against a programming error.
  VIGIL_ASSERT(text.size() <= static_cast<size_t>(INT_MAX));
  return BioPointer(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

BioPointer NewMemoryBio() { return BioPointer(BIO_new(BIO_s_mem())); }

std::string MemoryBioContents(BIO* bio) {
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  if (size <= 0 || data == nullptr) return {};
  return std::string(data, static_cast<size_t>(size));
}

std::string TakeOpenSslErrors() {
  std::string text;
  while (unsigned long code = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof(buffer));
    if (!text.empty()) text += "; ";
    text += buffer;
  }
  return text.empty() ? "no detail from OpenSSL" : text;
}

int RefusePassphrase(char* /*buffer*/, int /*size*/, int /*rwflag*/, void* /*user_data*/) {
  return -1;
}

}  // namespace vigil::crypto
