"""What every refusal code says to a person, in Vietnamese (the one place for it).

A refusal carries its stable machine code (``docs/errors.md``) and, for whoever reads
it, the sentence below: the gRPC status message begins with it, a
``google.rpc.LocalizedMessage`` (locale ``vi-VN``) carries it alone, and the command
line prints it before the code. The English detail that follows names the field and the
value; the sentence here says what rule was broken, in the words of the ward's offices.
``tests/unit/test_messages.py`` holds this table to every code of ``docs/errors.md``.
"""

from __future__ import annotations

LOCALE = "vi-VN"

VIETNAMESE: dict[str, str] = {
    # The wire.
    "INVALID_REQUEST": "Yêu cầu có trường không hợp lệ",
    "FIELD_REQUIRED": "Thiếu trường bắt buộc",
    "INVALID_VALUE": "Giá trị không hợp lệ",
    "ONE_OF_REQUIRED": "Phải nêu đúng một trong các trường lọc",
    "NOT_A_PLAN": "Mã đã nêu không phải mã kế hoạch",
    "UNDECODABLE": "Dữ liệu không đọc được (không đúng định dạng hoặc không phải UTF-8)",
    "TEXT_CONTROL_CHARACTER": "Văn bản chứa ký tự điều khiển",
    "TEXT_BIDI_CONTROL": "Văn bản chứa ký tự điều khiển hướng chữ",
    "TEXT_INVISIBLE_CHARACTER": "Văn bản chứa ký tự ẩn",
    "TEXT_NOT_NFC": "Mã định danh không ở dạng chuẩn Unicode NFC",
    "TEXT_TOO_LONG": "Văn bản vượt quá độ dài cho phép",
    "TOO_MANY_EVIDENCE": "Quá nhiều minh chứng trong một báo cáo (tối đa 20)",
    "TIMESTAMP_OUT_OF_RANGE": "Thời điểm nằm ngoài phạm vi cho phép",
    "DATE_INVALID": "Ngày không đúng dạng YYYY-MM-DD",
    "DATE_OUT_OF_RANGE": "Ngày nằm ngoài phạm vi 1970–2199",
    "YEAR_OUT_OF_RANGE": "Năm nằm ngoài phạm vi 1970–2199",
    "KNOWN_AT_IN_FUTURE": "Thời điểm ghi nhận nằm trong tương lai",
    "WINDOW_OUT_OF_RANGE": "Khoảng thời gian xem trước nằm ngoài phạm vi 0–3.660 ngày",
    "POSITION_OUT_OF_RANGE": "Vị trí trong nhật ký không được âm",
    "PAGE_TOKEN_INVALID": "Mã trang không do hệ thống cấp",
    "PERCENT_OUT_OF_RANGE": "Tỷ lệ phần trăm phải từ 0 đến 100",
    "VIEWS_STOPPED": "Đã ghi nhận, nhưng các bảng tổng hợp đang dừng; cần quản trị viên xử lý",
    "VERDICT_PENDING": "Báo cáo đã nhận nhưng chưa có kết quả xử lý; gửi lại với cùng mã sự kiện",
    "STORE_UNAVAILABLE": (
        "Kho dữ liệu tạm thời không truy cập được; có thể chưa ghi nhận, "
        "gửi lại với cùng mã sự kiện sau ít phút"
    ),
    "SUBJECT_CONTENDED": (
        "Chưa ghi nhận: đối tượng đang được cập nhật; gửi lại với cùng mã sau ít phút"
    ),
    "STORE_BUSY": "Chưa ghi nhận: kho dữ liệu đang bận; gửi lại với cùng mã sau ít phút",
    "REPORT_PERIOD_INVALID": (
        "Kỳ báo cáo không hợp lệ (tháng 2026-03, quý 2026-Q1, 6 tháng 2026-H1, năm 2026)"
    ),
    "REPORT_FORMAT_UNSUPPORTED": "Định dạng báo cáo không được hỗ trợ (chỉ xlsx hoặc pdf)",
    # A plan file.
    "FILE_UNREADABLE": "Không đọc được tệp, hoặc tệp không phải UTF-8",
    "YAML_SYNTAX": "Tệp không đúng cú pháp YAML",
    "FILE_EMPTY": "Tệp rỗng",
    "FORMAT_UNSUPPORTED": "Định dạng tệp không được hỗ trợ",
    "FIELD_TYPE": "Giá trị của trường không đúng kiểu",
    "FIELD_UNKNOWN": "Trường không có trong định dạng",
    "DUPLICATE_KEY": "Hai mục trùng mã",
    "UNKNOWN_AGENCY": "Đơn vị không có trong danh mục cơ quan, đơn vị",
    "UNKNOWN_ITEM": "Mục được tham chiếu không có trong kế hoạch",
    "TARGET_NOT_MACHINE_JUDGED": (
        "Chỉ tiêu ghi theo cách hệ thống không tự đánh giá được; "
        "giữ nguyên văn, đánh giá qua minh chứng"
    ),
    "UNKNOWN_PARENT": "Mục cha của mục con không có trong kế hoạch",
    "BUDGET_MISMATCH": "Các khoản kinh phí không khớp với tổng kinh phí",
    "PLAN_DUPLICATE": "Hai tệp cùng chứa một kế hoạch",
    # The domain.
    "DOMAIN_ERROR": "Vi phạm quy tắc nghiệp vụ",
    "DEADLINE_UNRECOGNISED": "Không hiểu cách ghi thời hạn",
    "TARGET_UNRECOGNISED": "Không hiểu cách ghi chỉ tiêu",
    "TARGET_DUPLICATE": "Chỉ tiêu có hai mục tiêu cho cùng một kỳ",
    "UNIT_UNRECOGNISED": "Không hiểu đơn vị tính",
    "INDICATOR_NOT_MEASURED": "Chỉ tiêu này được đánh giá qua minh chứng, không qua số đo",
    "UNIT_MISMATCH": "Đơn vị tính của số đo khác đơn vị của chỉ tiêu",
    "REASON_REQUIRED": "Điều chỉnh hoặc từ chối phải nêu lý do",
    "MEASUREMENT_UNRECOGNISED": "Không đọc được số đo so với chỉ tiêu",
    "EVIDENCE_URI": "Địa chỉ minh chứng không hợp lệ (chỉ https:// hoặc kho minh chứng s3://)",
    "OCCURRED_AT_IN_FUTURE": "Thời điểm phát sinh nằm trong tương lai",
    "OCCURRED_AT_BEFORE_PLAN": "Thời điểm phát sinh trước năm đầu của kế hoạch",
    "AS_OF_OUT_OF_RANGE": "Ngày báo cáo nằm ngoài thời gian của kế hoạch hoặc sau hôm nay",
    "PERIOD_OUT_OF_RANGE": "Kỳ số đo nằm ngoài phạm vi hoặc chưa bắt đầu",
    "NOT_LEAD_UNIT": (
        "Chỉ đơn vị chủ trì mới báo cáo tiến độ chung, đề nghị hoàn thành hoặc điều chỉnh báo cáo"
    ),
    "NOT_PARTICIPANT": (
        "Chỉ đơn vị chủ trì hoặc phối hợp mới báo cáo phần việc, nộp minh chứng hoặc nêu vướng mắc"
    ),
    "NOT_REVIEWER": (
        "Chỉ đơn vị theo dõi, văn phòng điều phối hoặc ban chỉ đạo mới đánh "
        "giá minh chứng hoặc xác nhận hoàn thành"
    ),
    "SELF_REVIEW": "Không ai tự đánh giá công việc của mình",
    "COLLECTIVE_CANNOT_ACT": (
        "Một tập thể (“Các cơ quan, đơn vị”) không tự hành động; chỉ từng thành viên hành động"
    ),
    "NOT_COORDINATOR": (
        "Chỉ văn phòng điều phối của kế hoạch mới thay đổi thời hạn, quan hệ "
        "phụ thuộc hoặc kế hoạch"
    ),
    "PROGRESS_DECREASE_NEEDS_CORRECTION": "Tiến độ chỉ giảm qua một điều chỉnh có lý do",
    "EVIDENCE_REQUIRED": "Hoàn thành cần có minh chứng",
    "EVIDENCE_ALREADY_JUDGED": "Minh chứng đã được chấp nhận hoặc từ chối",
    "NO_PENDING_COMPLETION_CLAIM": "Không có đề nghị hoàn thành nào để xác nhận",
    "KPI_TARGET_NOT_MET": "Chỉ tiêu chưa đạt nên chưa thể xác nhận hoàn thành",
    "ITEM_CLOSED": "Nhiệm vụ đã hoàn thành hoặc đã hủy",
    "GROUP_ITEM_NOT_REPORTABLE": "Nhóm nhiệm vụ được báo cáo qua các nhiệm vụ con",
    "DEPENDENCY_CYCLE": "Quan hệ phụ thuộc sẽ tạo thành vòng lặp",
    "EVIDENCE_UNKNOWN": "Không có minh chứng này trong nhiệm vụ",
    "REPORT_UNKNOWN": "Không có báo cáo (hoặc số đo) của phiên bản này để điều chỉnh",
    "OBSTACLE_UNKNOWN": "Không có vướng mắc đang mở với mã này",
    "DEPENDENCY_UNKNOWN": "Không có quan hệ phụ thuộc này để rút lại",
    "NOT_FOUND": "Không tìm thấy kế hoạch, nhiệm vụ, chỉ tiêu hoặc đơn vị",
    "EVIDENCE_DUPLICATE": "Minh chứng này đã được nộp cho nhiệm vụ",
    "DEPENDENCY_DUPLICATE": "Quan hệ phụ thuộc này đã được khai báo",
    "IDEMPOTENCY_KEY_REUSED": "Mã sự kiện đã được dùng cho một nội dung khác",
    # Identity.
    "SIGNATURE_MISSING": "Thiếu chữ ký số",
    "SIGNATURE_INVALID": "Chữ ký số không hợp lệ",
    "KEY_UNKNOWN": "Khóa chưa được đăng ký",
    "KEY_REVOKED": "Khóa đã bị thu hồi",
    "KEY_NOT_OF_AGENCY": "Khóa thuộc đơn vị khác",
    "CERTIFICATE_EXPIRED": "Chứng thư số hết hạn hoặc chưa có hiệu lực",
    "CERTIFICATE_UNTRUSTED": "Chứng thư số không do tổ chức tin cậy cấp",
    "KEY_ALREADY_REGISTERED": "Chứng thư số đã được đăng ký",
    "AGENCY_NOT_CALLER": "Không được gửi thay đơn vị khác",
    "ROLE_NOT_ALLOWED": "Vai trò của bên gọi không được phép thực hiện thao tác này",
    "CLIENT_CERTIFICATE_REQUIRED": "Cần chứng thư số của bên gọi",
    "IDENTITY_UNKNOWN": "Không xác định được danh tính của bên gọi",
    "RATE_LIMITED": "Gửi quá nhiều yêu cầu; thử lại sau",
    # The log's checkpoints and witnesses.
    "NOTE_MALFORMED": "Không phải một điểm kiểm tra có chữ ký của nhật ký",
    "LOG_SIGNATURE_INVALID": "Chữ ký của nhật ký không hợp lệ",
    "CHECKPOINT_UNKNOWN": "Nhật ký không lưu điểm kiểm tra có kích thước này",
    "CHECKPOINT_MISMATCH": (
        "Điểm kiểm tra khác với điểm nhật ký đã lưu: nhật ký đã bị viết lại "
        "hoặc điểm kiểm tra bị sửa"
    ),
    "COSIGNATURE_MISSING": "Điểm kiểm tra không có chữ ký đồng xác nhận",
    "WITNESS_UNKNOWN": "Chữ ký của một bên chứng kiến không được cấu hình",
    "COSIGNATURE_INVALID": "Chữ ký đồng xác nhận không hợp lệ",
}


def vietnamese(code: str) -> str:
    """The Vietnamese sentence for ``code``; the generic one for a code not (yet) in the table."""
    return VIETNAMESE.get(code, VIETNAMESE["DOMAIN_ERROR"])


def vietnamese_first(code: str, detail: str) -> str:
    """What a person reads of a refusal or a warning: ``code``'s Vietnamese sentence,
    then the detail (the detail alone when it already begins with the sentence)."""
    said = vietnamese(code)
    if not detail:
        return said
    return detail if detail.startswith(said) else f"{said} — {detail}"
