#include "codec.h"

#include <brotli/decode.h>
#include <brotli/encode.h>
#include <zlib.h>

#include <algorithm>
#include <memory>
#define ZSTD_STATIC_LINKING_ONLY  // ZSTD_nextSrcSizeToDecompress (exported by the shared library)
#include <zstd.h>

namespace akt::remote {
namespace {

constexpr std::size_t kChunk = 64 * 1024;

Status Corrupt(std::string_view codec, std::string_view what) {
  return Status(StatusCode::kInvalidArgument,
                std::string(codec) + " stream is corrupt: " + std::string(what));
}
Status TooBig(std::string_view codec) {
  return Status(StatusCode::kResourceExhausted,
                std::string(codec) + " stream decompresses past the frame limit");
}

class ZstdEncoder final : public Encoder {
 public:
  ZstdEncoder() : ctx_(ZSTD_createCCtx()) {
    ZSTD_CCtx_setParameter(ctx_, ZSTD_c_compressionLevel, 1);
  }
  ~ZstdEncoder() override { ZSTD_freeCCtx(ctx_); }
  Status Encode(const uint8_t* in, std::size_t n, std::string& out) override {
    ZSTD_inBuffer ib{in, n, 0};
    for (;;) {
      std::size_t base = out.size();
      out.resize(base + kChunk);
      ZSTD_outBuffer ob{out.data() + base, kChunk, 0};
      std::size_t r = ZSTD_compressStream2(ctx_, &ob, &ib, ZSTD_e_flush);
      out.resize(base + ob.pos);
      if (ZSTD_isError(r)) return Status(StatusCode::kInternal, ZSTD_getErrorName(r));
      if (r == 0 && ib.pos == ib.size) return Status();
    }
  }

 private:
  ZSTD_CCtx* ctx_;
};

class ZstdDecoder final : public Decoder {
 public:
  ZstdDecoder() : ctx_(ZSTD_createDCtx()), scratch_(new uint8_t[kChunk]) {}
  ~ZstdDecoder() override { ZSTD_freeDCtx(ctx_); }
  Status Decode(const uint8_t* in, std::size_t n, std::string& out, std::size_t max_out) override {
    ZSTD_inBuffer ib{in, n, 0};
    while (ib.pos < ib.size) {
      if (out.size() >= max_out) return TooBig("zstd");
      // One block per call: a call that fails reports none of the output it
      // made, so corrupt bytes after a good block must not share its call
      // (the good frames are still handled before the error).
      // (The hint is 0 while the frame header loads: byte by byte, once.)
      std::size_t step = std::max<std::size_t>(ZSTD_nextSrcSizeToDecompress(ctx_), 1);
      std::size_t left = ib.size - ib.pos;
      ZSTD_inBuffer part{ib.src, ib.pos + std::min(step, left), ib.pos};
      std::size_t made = 0;
      if (Status s = Step(&part, out, &made); !s.ok()) return s;
      if (part.pos == ib.pos && made == 0 && part.size != ib.size) {
        part.size = ib.size;  // the hint did not fit the stage: give it all
        if (Status s = Step(&part, out, &made); !s.ok()) return s;
      }
      ib.pos = part.pos;
    }
    // Drain what the decoder still holds for this input.
    for (;;) {
      if (out.size() >= max_out) return TooBig("zstd");
      std::size_t made = 0;
      if (Status s = Step(&ib, out, &made); !s.ok()) return s;
      if (made < kChunk) return Status();
    }
  }

 private:
  // One ZSTD_decompressStream call into the scratch buffer; what it made is
  // appended to `out` (a resize of `out` by a whole chunk per call zero-fills
  // 64 KiB each time: with a call per block that cost small messages 15 % of
  // their round trip).
  Status Step(ZSTD_inBuffer* in, std::string& out, std::size_t* made) {
    ZSTD_outBuffer ob{scratch_.get(), kChunk, 0};
    std::size_t r = ZSTD_decompressStream(ctx_, &ob, in);
    out.append(reinterpret_cast<const char*>(scratch_.get()), ob.pos);
    *made = ob.pos;
    if (ZSTD_isError(r)) return Corrupt("zstd", ZSTD_getErrorName(r));
    return Status();
  }

  ZSTD_DCtx* ctx_;
  std::unique_ptr<uint8_t[]> scratch_;
};

class BrotliEnc final : public Encoder {
 public:
  BrotliEnc() : st_(BrotliEncoderCreateInstance(nullptr, nullptr, nullptr)) {
    BrotliEncoderSetParameter(st_, BROTLI_PARAM_QUALITY, 1);
    BrotliEncoderSetParameter(st_, BROTLI_PARAM_LGWIN, 18);
  }
  ~BrotliEnc() override { BrotliEncoderDestroyInstance(st_); }
  Status Encode(const uint8_t* in, std::size_t n, std::string& out) override {
    std::size_t avail_in = n;
    const uint8_t* next_in = in;
    for (;;) {
      std::size_t base = out.size();
      out.resize(base + kChunk);
      std::size_t avail_out = kChunk;
      auto* next_out = reinterpret_cast<uint8_t*>(out.data() + base);
      if (!BrotliEncoderCompressStream(st_, BROTLI_OPERATION_FLUSH, &avail_in, &next_in, &avail_out,
                                       &next_out, nullptr)) {
        out.resize(base);
        return Status(StatusCode::kInternal, "brotli encoder failed");
      }
      out.resize(base + (kChunk - avail_out));
      if (avail_in == 0 && !BrotliEncoderHasMoreOutput(st_)) return Status();
    }
  }

 private:
  BrotliEncoderState* st_;
};

class BrotliDec final : public Decoder {
 public:
  BrotliDec() : st_(BrotliDecoderCreateInstance(nullptr, nullptr, nullptr)) {}
  ~BrotliDec() override { BrotliDecoderDestroyInstance(st_); }
  Status Decode(const uint8_t* in, std::size_t n, std::string& out, std::size_t max_out) override {
    std::size_t avail_in = n;
    const uint8_t* next_in = in;
    for (;;) {
      if (out.size() >= max_out) return TooBig("brotli");
      std::size_t base = out.size();
      out.resize(base + kChunk);
      std::size_t avail_out = kChunk;
      auto* next_out = reinterpret_cast<uint8_t*>(out.data() + base);
      BrotliDecoderResult r =
          BrotliDecoderDecompressStream(st_, &avail_in, &next_in, &avail_out, &next_out, nullptr);
      out.resize(base + (kChunk - avail_out));
      if (r == BROTLI_DECODER_RESULT_ERROR) {
        return Corrupt("brotli", BrotliDecoderErrorString(BrotliDecoderGetErrorCode(st_)));
      }
      if (r == BROTLI_DECODER_RESULT_SUCCESS) {
        if (avail_in != 0) return Corrupt("brotli", "data after the end of the stream");
        return Status();
      }
      if (r == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT && avail_out != 0 &&
          !BrotliDecoderHasMoreOutput(st_)) {
        return Status();
      }
      // NEEDS_MORE_OUTPUT: loop with more room.
    }
  }

 private:
  BrotliDecoderState* st_;
};

class GzipEnc final : public Encoder {
 public:
  GzipEnc() {
    zs_ = {};
    ok_ = deflateInit2(&zs_, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
  }
  ~GzipEnc() override {
    if (ok_) deflateEnd(&zs_);
  }
  Status Encode(const uint8_t* in, std::size_t n, std::string& out) override {
    if (!ok_) return Status(StatusCode::kInternal, "gzip encoder failed to start");
    zs_.next_in = const_cast<Bytef*>(in);
    zs_.avail_in = static_cast<uInt>(n);
    for (;;) {
      std::size_t base = out.size();
      out.resize(base + kChunk);
      zs_.next_out = reinterpret_cast<Bytef*>(out.data() + base);
      zs_.avail_out = static_cast<uInt>(kChunk);
      int r = deflate(&zs_, Z_SYNC_FLUSH);
      out.resize(base + (kChunk - zs_.avail_out));
      if (r != Z_OK && r != Z_BUF_ERROR)
        return Status(StatusCode::kInternal, "gzip encoder failed");
      if (zs_.avail_in == 0 && zs_.avail_out != 0) return Status();
    }
  }

 private:
  z_stream zs_;
  bool ok_ = false;
};

class GzipDec final : public Decoder {
 public:
  GzipDec() {
    zs_ = {};
    ok_ = inflateInit2(&zs_, 15 + 16) == Z_OK;
  }
  ~GzipDec() override {
    if (ok_) inflateEnd(&zs_);
  }
  Status Decode(const uint8_t* in, std::size_t n, std::string& out, std::size_t max_out) override {
    if (!ok_) return Status(StatusCode::kInternal, "gzip decoder failed to start");
    zs_.next_in = const_cast<Bytef*>(in);
    zs_.avail_in = static_cast<uInt>(n);
    for (;;) {
      if (out.size() >= max_out) return TooBig("gzip");
      std::size_t base = out.size();
      out.resize(base + kChunk);
      zs_.next_out = reinterpret_cast<Bytef*>(out.data() + base);
      zs_.avail_out = static_cast<uInt>(kChunk);
      int r = inflate(&zs_, Z_SYNC_FLUSH);
      out.resize(base + (kChunk - zs_.avail_out));
      if (r == Z_STREAM_END) return Corrupt("gzip", "the stream ended");
      if (r == Z_BUF_ERROR) return Status();  // needs more input
      if (r != Z_OK) return Corrupt("gzip", zs_.msg != nullptr ? zs_.msg : "inflate failed");
      if (zs_.avail_in == 0 && zs_.avail_out != 0) return Status();
    }
  }

 private:
  z_stream zs_;
  bool ok_ = false;
};

}  // namespace

bool ValidCodec(uint8_t id) { return id <= 3; }

std::unique_ptr<Encoder> MakeEncoder(Compression c) {
  switch (c) {
    case Compression::kZstd:
      return std::make_unique<ZstdEncoder>();
    case Compression::kBrotli:
      return std::make_unique<BrotliEnc>();
    case Compression::kGzip:
      return std::make_unique<GzipEnc>();
    case Compression::kNone:
      break;
  }
  return nullptr;
}

std::unique_ptr<Decoder> MakeDecoder(Compression c) {
  switch (c) {
    case Compression::kZstd:
      return std::make_unique<ZstdDecoder>();
    case Compression::kBrotli:
      return std::make_unique<BrotliDec>();
    case Compression::kGzip:
      return std::make_unique<GzipDec>();
    case Compression::kNone:
      break;
  }
  return nullptr;
}

}  // namespace akt::remote
