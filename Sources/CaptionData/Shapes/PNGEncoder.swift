import CPNG
import Foundation

/// PNG encoding through libpng's simplified API. The output has no time or text chunks, so the
/// same pixels always give the same bytes.
public enum PNGEncoder {
    public static func encode(_ image: RGBImage) throws -> Data {
        var description = png_image()
        description.version = UInt32(PNG_IMAGE_VERSION)
        description.width = UInt32(image.width)
        description.height = UInt32(image.height)
        description.format = UInt32(PNG_FORMAT_RGB)
        // Noisy backgrounds barely compress; libpng's fast mode is several times quicker for
        // files only slightly larger.
        description.flags = UInt32(PNG_IMAGE_FLAG_FAST)
        let stride = Int32(image.width * 3)
        return try image.pixels.withUnsafeBytes { pixels -> Data in
            // First call measures, second call writes.
            var byteCount: Int = 0
            guard png_image_write_to_memory(&description, nil, &byteCount, 0, pixels.baseAddress, stride, nil) != 0 else {
                throw encodingError(description)
            }
            var output = Data(count: byteCount)
            let written = output.withUnsafeMutableBytes { buffer in
                png_image_write_to_memory(&description, buffer.baseAddress, &byteCount, 0, pixels.baseAddress, stride, nil)
            }
            guard written != 0 else { throw encodingError(description) }
            output.count = byteCount
            return output
        }
    }

    private static func encodingError(_ description: png_image) -> DatasetError {
        var message = description.message
        let text = withUnsafeBytes(of: &message) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        return DatasetError(file: nil, problem: "libpng could not encode the image (\(text))",
                            fix: "check that libpng16 is installed correctly")
    }
}
