import CTurboJPEG
import Foundation

/// JPEG through TurboJPEG, with the same libjpeg settings Pillow uses (accurate integer IDCT, fancy upsampling).
enum JPEGDecoder {
    static func decode(_ data: Data, name: String, maxPixels: Int) throws -> RGBImage {
        guard let handle = tjInitDecompress() else {
            throw ImageError("\(name) could not be decoded: TurboJPEG failed to initialise.")
        }
        defer { tjDestroy(handle) }

        return try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> RGBImage in
            let bytes = raw.bindMemory(to: UInt8.self)
            var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
            if tjDecompressHeader3(handle, bytes.baseAddress, UInt(bytes.count), &width, &height,
                                   &subsampling, &colorspace) != 0, !isHarmlessWarning(handle) {
                throw ImageError.corruptJPEG(name, message(handle))
            }
            // The header alone tells the size: refuse bombs before allocating anything.
            try ImageDecoder.checkPixelLimit(width: Int(width), height: Int(height), maxPixels: maxPixels, name: name)

            let isCMYK = colorspace == Int32(TJCS_CMYK.rawValue) || colorspace == Int32(TJCS_YCCK.rawValue)
            let channels = isCMYK ? 4 : 3
            let format = isCMYK ? TJPF_CMYK : TJPF_RGB
            var decoded = [UInt8](repeating: 0, count: Int(width) * Int(height) * channels)
            let status = decoded.withUnsafeMutableBufferPointer { out in
                tjDecompress2(handle, bytes.baseAddress, UInt(bytes.count), out.baseAddress, width, 0, height,
                              Int32(format.rawValue), 0)
            }
            if status != 0, !isHarmlessWarning(handle) {
                throw ImageError.corruptJPEG(name, message(handle))
            }
            var image = RGBImage(width: Int(width), height: Int(height),
                                 pixels: isCMYK ? invertedCMYKToRGB(decoded) : decoded)
            let orientation = JPEGMetadata.exifOrientation(in: raw)
            image = image.applyingEXIFOrientation(orientation)
            return image
        }
    }

    /// Pillow's CMYK JPEG path: libjpeg's values are Adobe-inverted ("CMYK;I"), then `cmyk2rgb`
    /// computes `(255 - k) - c * (255 - k) / 255` with its fast rounding division by 255.
    static func invertedCMYKToRGB(_ cmyk: [UInt8]) -> [UInt8] {
        let count = cmyk.count / 4
        var rgb = [UInt8](repeating: 0, count: count * 3)
        cmyk.withUnsafeBufferPointer { src in
            rgb.withUnsafeMutableBufferPointer { dst in
                for i in 0..<count {
                    let notK = Int(src[i * 4 + 3])  // 255 - k, since the stored k is inverted
                    for c in 0..<3 {
                        let ink = 255 - Int(src[i * 4 + c])
                        let product = ink * notK + 128
                        let scaled = ((product >> 8) + product) >> 8
                        dst[i * 3 + c] = UInt8(clamping: notK - scaled)
                    }
                }
            }
        }
        return rgb
    }

    /// libjpeg reports truncated data only as a warning and fills the rest with grey; that must not
    /// pass for a photo. Stray bytes between markers, though, leave the picture intact (Pillow accepts them).
    private static func isHarmlessWarning(_ handle: tjhandle) -> Bool {
        tjGetErrorCode(handle) == Int32(TJERR_WARNING.rawValue) && message(handle).contains("extraneous bytes")
    }

    private static func message(_ handle: tjhandle) -> String {
        guard let text = tjGetErrorStr2(handle) else { return "unknown TurboJPEG error" }
        return String(cString: text)
    }
}
