/// Reads the EXIF orientation tag from a JPEG's APP1 segment; libjpeg ignores it, so we parse it ourselves.
enum JPEGMetadata {
    /// The orientation (1–8) from the first APP1 "Exif" segment before the image data, or 1.
    static func exifOrientation(in jpeg: UnsafeRawBufferPointer) -> Int {
        var position = 2  // after SOI
        while position + 4 <= jpeg.count {
            guard jpeg[position] == 0xFF else { return 1 }
            let marker = jpeg[position + 1]
            if marker == 0xFF { position += 1; continue }  // fill byte
            if marker == 0xDA || marker == 0xD9 { return 1 }  // start of scan / end of image: no EXIF
            if (0xD0...0xD7).contains(marker) || marker == 0x01 { position += 2; continue }  // no length
            let length = Int(jpeg[position + 2]) << 8 | Int(jpeg[position + 3])
            let payloadStart = position + 4
            let payloadEnd = position + 2 + length
            guard length >= 2, payloadEnd <= jpeg.count else { return 1 }
            if marker == 0xE1, payloadEnd - payloadStart >= 14,
               Array(jpeg[payloadStart..<payloadStart + 6]) == Array("Exif\0\0".utf8) {
                let tiff = UnsafeRawBufferPointer(rebasing: jpeg[(payloadStart + 6)..<payloadEnd])
                return orientation(inTIFF: tiff) ?? 1
            }
            position = payloadEnd
        }
        return 1
    }

    /// Walks IFD0 of a TIFF header in either byte order looking for tag 0x0112.
    static func orientation(inTIFF tiff: UnsafeRawBufferPointer) -> Int? {
        guard tiff.count >= 8 else { return nil }
        let bigEndian: Bool
        switch (tiff[0], tiff[1]) {
        case (0x4D, 0x4D): bigEndian = true   // "MM", Motorola
        case (0x49, 0x49): bigEndian = false  // "II", Intel
        default: return nil
        }
        func u16(_ at: Int) -> Int? {
            guard at >= 0, at + 2 <= tiff.count else { return nil }
            return bigEndian ? Int(tiff[at]) << 8 | Int(tiff[at + 1]) : Int(tiff[at + 1]) << 8 | Int(tiff[at])
        }
        func u32(_ at: Int) -> Int? {
            guard let high = u16(bigEndian ? at : at + 2), let low = u16(bigEndian ? at + 2 : at) else { return nil }
            return high << 16 | low
        }
        guard u16(2) == 42, let ifd = u32(4), let entries = u16(ifd) else { return nil }
        for index in 0..<entries {
            let entry = ifd + 2 + index * 12
            guard let tag = u16(entry) else { return nil }
            if tag == 0x0112 {
                guard u16(entry + 2) == 3, let value = u16(entry + 8), (1...8).contains(value) else { return nil }
                return value
            }
        }
        return nil
    }
}
