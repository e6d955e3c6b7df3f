"""Every label the console shows, in Vietnamese first and English: the one message catalogue.

Templates and views name a message by key (`t("nav.dashboard")`); a key missing from the
catalogue fails loudly (a test renders every page in both languages). Placeholders are
`str.format` fields. What the services say (refusals, validation errors) is shown as they say it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"

MESSAGES: dict[str, tuple[str, str]] = {
    # the frame
    "app.title": ("Liên Thông · Bảng điều khiển", "Liên Thông · Console"),
    "app.name": ("Liên Thông", "Liên Thông"),
    "app.steward_console": ("Bảng điều khiển quản trị dữ liệu", "Data stewards' console"),
    "app.citizen_portal": ("Dữ liệu của tôi", "My data"),
    "app.skip": ("Chuyển đến nội dung chính", "Skip to main content"),
    "app.language": ("Ngôn ngữ", "Language"),
    "app.signed_in_as": ("Đăng nhập với tên {name}", "Signed in as {name}"),
    "app.roles": ("Vai trò", "Roles"),
    "nav.label": ("Điều hướng chính", "Main navigation"),
    "nav.dashboard": ("Tổng quan", "Dashboard"),
    "nav.agreements": ("Thỏa thuận chia sẻ", "Agreements"),
    "nav.approvals": ("Chờ phê duyệt", "Approvals"),
    "nav.sign_out": ("Đăng xuất", "Sign out"),
    # signing in and out
    "sign_in.title": ("Đăng nhập", "Sign in"),
    "sign_in.steward_intro": (
        "Trang dành cho cán bộ quản trị dữ liệu. Đăng nhập bằng tài khoản của cơ quan.",
        "For data stewards. Sign in with your organisation's account.",
    ),
    "sign_in.citizen_intro": (
        "Xem ai đã truy cập dữ liệu của bạn và quản lý sự đồng ý. Đăng nhập bằng tài khoản "
        "định danh của bạn.",
        "See who looked at your data and manage your consents. Sign in with your identity account.",
    ),
    "sign_in.button": ("Đăng nhập", "Sign in"),
    "sign_in.unavailable": (
        "Chưa cấu hình máy chủ đăng nhập (LIENTHONG_CONSOLE_OIDC_URL hoặc "
        "LIENTHONG_KEYCLOAK_URL) hoặc khóa phiên (LIENTHONG_CONSOLE_SESSION_SECRET).",
        "No sign-in server (LIENTHONG_CONSOLE_OIDC_URL or LIENTHONG_KEYCLOAK_URL) or session "
        "key (LIENTHONG_CONSOLE_SESSION_SECRET) is configured.",
    ),
    "sign_in.failed": ("Đăng nhập không thành công", "Sign-in failed"),
    "sign_in.expired": (
        "Phiên đăng nhập đã hết hạn hoặc không hợp lệ. Hãy đăng nhập lại.",
        "The sign-in expired or is not valid. Please sign in again.",
    ),
    "sign_out.done": ("Bạn đã đăng xuất.", "You are signed out."),
    # errors
    "error.title": ("Không thực hiện được", "That did not work"),
    "error.forbidden": ("Không có quyền", "Forbidden"),
    "error.steward_only": (
        "Trang này chỉ dành cho cán bộ quản trị dữ liệu.",
        "This page is for data stewards only.",
    ),
    "error.citizen_only": ("Trang này chỉ dành cho công dân.", "This page is for citizens only."),
    "error.csrf": (
        "Biểu mẫu đã hết hạn hoặc không đến từ trang này (thiếu mã chống giả mạo CSRF). "
        "Hãy tải lại trang và thử lại.",
        "The form expired or did not come from this site (its anti-forgery CSRF token is "
        "missing or wrong). Reload the page and try again.",
    ),
    "error.not_found": ("Không tìm thấy trang", "Page not found"),
    "error.invalid": ("Dữ liệu không hợp lệ", "Invalid input"),
    "error.fix_below": ("Hãy sửa các lỗi bên dưới.", "Please correct the errors below."),
    "error.back": ("Quay lại tổng quan", "Back to the dashboard"),
    "error.code": ("Mã lỗi", "Error code"),
    # dashboard
    "dashboard.title": ("Tổng quan", "Dashboard"),
    "dashboard.disclosures": (
        "Lượt cung cấp dữ liệu theo cơ quan, {days} ngày gần nhất",
        "Disclosures per agency, last {days} days",
    ),
    "dashboard.chart_label": (
        "Biểu đồ cột chồng: số bản ghi nhật ký truy cập mỗi ngày, theo cơ quan",
        "Stacked bar chart: access-log entries per day, by agency",
    ),
    "dashboard.no_disclosures": ("Chưa có lượt truy cập nào.", "No access yet."),
    "dashboard.day": ("Ngày", "Day"),
    "dashboard.agency": ("Cơ quan", "Agency"),
    "dashboard.entries": ("Bản ghi", "Entries"),
    "dashboard.table_summary": ("Số liệu của biểu đồ", "The chart's figures"),
    "dashboard.refusals": ("Trường bị từ chối, theo lý do", "Fields refused, by reason"),
    "dashboard.reason": ("Lý do", "Reason"),
    "dashboard.count": ("Số trường", "Fields"),
    "dashboard.no_refusals": ("Không có lượt từ chối nào.", "No refusals."),
    "dashboard.waiting": ("Chờ phê duyệt", "Approvals waiting"),
    "dashboard.waiting_agreements": ("Thỏa thuận chia sẻ", "Agreements"),
    "dashboard.waiting_documents": ("Truy vấn của cơ quan", "Agency documents"),
    "dashboard.waiting_purposes": ("Mục đích", "Purposes"),
    "dashboard.waiting_forms": ("Biểu mẫu", "Forms"),
    "dashboard.chain": ("Chuỗi băm của nhật ký truy cập", "Access-log hash chains"),
    "dashboard.chain_entries": ("Bản ghi", "Entries"),
    "dashboard.chain_chains": ("Chuỗi", "Chains"),
    "dashboard.chain_lanes": ("Luồng ghi", "Lanes"),
    "dashboard.last_verify": ("Lần kiểm tra gần nhất", "Last verification"),
    "dashboard.never_verified": (
        "Chưa kiểm tra kể từ khi máy chủ khởi động.",
        "Not verified since this server started.",
    ),
    "dashboard.intact": (
        "Nguyên vẹn: {rows} bản ghi trong {chains} chuỗi, lúc {at}, do {by}",
        "Intact: {rows} entries in {chains} chains, at {at}, by {by}",
    ),
    "dashboard.broken": (
        "BỊ PHÁ VỠ: chuỗi {chain}, số thứ tự {seq}: {reason} (lúc {at}, do {by})",
        "BROKEN: chain {chain}, sequence {seq}: {reason} (at {at}, by {by})",
    ),
    "dashboard.verify": ("Kiểm tra chuỗi ngay", "Verify the chains now"),
    # agreements
    "agreements.title": ("Thỏa thuận chia sẻ dữ liệu", "Data-sharing agreements"),
    "agreements.new": ("Soạn thỏa thuận mới", "Draft a new agreement"),
    "agreements.filter": ("Lọc", "Filter"),
    "agreements.all": ("Tất cả", "All"),
    "agreements.none": ("Không có thỏa thuận nào.", "No agreements."),
    "agreements.id": ("Mã", "Id"),
    "agreements.status": ("Trạng thái", "Status"),
    "agreements.fields": ("Trường dữ liệu", "Fields"),
    "agreements.changed_by": ("Người thay đổi", "Changed by"),
    "agreements.valid_from": ("Từ lúc", "Since"),
    "agreements.more": ("Trang sau", "Next page"),
    "agreement.title": ("Thỏa thuận {id}", "Agreement {id}"),
    "agreement.edit_title": ("Sửa thỏa thuận {id}", "Edit agreement {id}"),
    "agreement.new_title": ("Soạn thỏa thuận mới", "Draft an agreement"),
    "agreement.agency": ("Cơ quan", "Agency"),
    "agreement.purpose": ("Mục đích", "Purpose"),
    "agreement.subject_type": ("Loại đối tượng", "Subject type"),
    "agreement.choose_type": ("Chọn loại đối tượng", "Choose the subject type"),
    "agreement.choose_type_hint": (
        "Các trường dữ liệu được chọn từ lược đồ của loại đối tượng này.",
        "The fields are chosen from this type's schema.",
    ),
    "agreement.continue": ("Tiếp tục", "Continue"),
    "agreement.fields": ("Trường dữ liệu được cung cấp", "Fields given"),
    "agreement.fields_hint": (
        "Đánh dấu các trường cơ quan được xem; chọn cách che nếu chỉ cung cấp một phần.",
        "Tick the fields the agency may see; choose a mask to give only part of one.",
    ),
    "agreement.field": ("Trường", "Field"),
    "agreement.given": ("Cung cấp", "Given"),
    "agreement.mask": ("Che", "Mask"),
    "agreement.mask_none": ("Không che", "No mask"),
    "agreement.via": ("Qua quan hệ", "Through relations"),
    "agreement.via_hint": (
        "Không chọn: chỉ khi tra cứu trực tiếp theo mã. Chọn: chỉ khi đến từ các quan hệ này.",
        "None ticked: only when looked up by key. Ticked: only when reached through these.",
    ),
    "agreement.no_via": (
        "Loại này không có quan hệ nào dẫn đến.",
        "No relation reaches this type.",
    ),
    "agreement.legal_basis": ("Căn cứ pháp lý", "Legal basis"),
    "agreement.legal_reference": ("Số hiệu văn bản", "Legal reference"),
    "agreement.consent_required": (
        "Cần sự đồng ý của công dân",
        "The citizen's consent is required",
    ),
    "agreement.effective_from": ("Hiệu lực từ ngày", "In force from"),
    "agreement.effective_to": (
        "Hiệu lực đến ngày (để trống: không thời hạn)",
        "In force until (empty: open-ended)",
    ),
    "agreement.daily_quota": (
        "Hạn mức mỗi ngày (số đối tượng; để trống: không giới hạn)",
        "Daily quota (subjects; empty: none)",
    ),
    "agreement.save_draft": ("Lưu bản nháp", "Save the draft"),
    "agreement.save": ("Lưu thay đổi (thành bản nháp)", "Save the change (as a draft)"),
    "agreement.edit": ("Sửa", "Edit"),
    "agreement.submit": ("Gửi phê duyệt", "Submit for approval"),
    "agreement.approve": ("Phê duyệt", "Approve"),
    "agreement.reject": ("Từ chối", "Reject"),
    "agreement.note": ("Ghi chú (bắt buộc khi từ chối)", "Note (required to reject)"),
    "agreement.suspend": ("Tạm dừng", "Suspend"),
    "agreement.suspend_note": (
        "Lý do tạm dừng (có hiệu lực từ yêu cầu tiếp theo)",
        "Why it is suspended (from the next request)",
    ),
    "agreement.suspended": (
        "Đã tạm dừng: từ yêu cầu tiếp theo không còn cung cấp dữ liệu.",
        "Suspended: nothing is given from the next request.",
    ),
    "agreement.decide": ("Quyết định", "Decision"),
    "agreement.saved": ("Đã lưu bản nháp.", "The draft is saved."),
    "agreement.submitted": ("Đã gửi phê duyệt.", "Submitted for approval."),
    "agreement.approved": (
        "Đã phê duyệt: có hiệu lực từ yêu cầu tiếp theo.",
        "Approved: in force from the next request.",
    ),
    "agreement.rejected": ("Đã từ chối.", "Rejected."),
    "agreement.terms": ("Điều khoản", "Terms"),
    "agreement.history": ("Lịch sử", "History"),
    "agreement.version": ("Phiên bản", "Version"),
    "agreement.note_label": ("Ghi chú", "Note"),
    "agreement.yes": ("Có", "Yes"),
    "agreement.no": ("Không", "No"),
    "agreement.open_ended": ("không thời hạn", "open-ended"),
    "agreement.unlimited": ("không giới hạn", "none"),
    "diff.title": (
        "Thay đổi so với phiên bản đã có hiệu lực",
        "Change against the version in force",
    ),
    "diff.against": (
        "So với phiên bản {version} ({status}, do {by} phê duyệt).",
        "Against version {version} ({status}, approved by {by}).",
    ),
    "diff.new": (
        "Thỏa thuận mới: chưa từng có phiên bản được phê duyệt, mọi điều khoản đều là mới.",
        "A new agreement: no version was ever approved, every term is new.",
    ),
    "diff.term": ("Điều khoản", "Term"),
    "diff.before": ("Trước", "Before"),
    "diff.after": ("Sau", "After"),
    "diff.added": ("Thêm", "Added"),
    "diff.removed": ("Bỏ", "Removed"),
    "diff.unchanged": ("Không có thay đổi nào về điều khoản.", "No term changed."),
    "approvals.title": ("Chờ phê duyệt", "Waiting for approval"),
    "approvals.intro": (
        "Thỏa thuận đã gửi phê duyệt. Người soạn, sửa hoặc gửi không được tự phê duyệt "
        "(nguyên tắc bốn mắt).",
        "Agreements submitted for approval. Whoever drafted, edited or submitted one may not "
        "approve it (four-eyes).",
    ),
    "approvals.none": ("Không có thỏa thuận nào chờ phê duyệt.", "Nothing waits for approval."),
    "approvals.review": ("Xem và quyết định", "Review and decide"),
    # purposes, forms, agency documents, explain (gateway/console/purposes.py, forms.py,
    # documents.py, explain.py)
    "nav.purposes": ("Mục đích", "Purposes"),
    "nav.forms": ("Biểu mẫu", "Forms"),
    "nav.documents": ("Truy vấn của cơ quan", "Agency documents"),
    "nav.explain": ("Giải thích quyết định", "Explain"),
    "status.in_force": ("đang có hiệu lực", "in force"),
    "status.proposed": ("mới đề xuất", "proposed"),
    "status.revoked": ("đã thu hồi", "revoked"),
    "proposal.pending": ("Đề xuất chờ quyết định", "Pending proposal"),
    "proposal.review": ("Xem và quyết định", "Review and decide"),
    "proposal.proposed_by": ("Người đề xuất", "Proposed by"),
    "proposal.approved_by": ("người phê duyệt", "approved by"),
    "proposal.decided_by": ("Người quyết định", "Decided by"),
    "proposal.in_force": ("Phiên bản đang có hiệu lực", "The version in force"),
    "proposal.pending_title": ("Thay đổi chờ phê duyệt", "The change awaiting approval"),
    "proposal.by": ("Do {by} đề xuất lúc {at}.", "Proposed by {by} at {at}."),
    "proposal.needs": (
        "Cần cán bộ phụ trách: {needs} (không phải người đề xuất).",
        "Needs a steward of: {needs} (not its proposer).",
    ),
    "proposal.approvals_so_far": ("Đã phê duyệt: {approvals}.", "Approved so far: {approvals}."),
    "proposal.proposed": (
        "Đã gửi đề xuất: có hiệu lực khi cán bộ khác phê duyệt.",
        "Proposed: in force once another steward approves it.",
    ),
    "proposal.approved": (
        "Đã phê duyệt (có hiệu lực khi đủ mọi phạm vi cần thiết).",
        "Approved (in force once every scope it needs has approved).",
    ),
    "proposal.rejected": ("Đã từ chối đề xuất.", "The proposal is rejected."),
    "proposal.history": ("Các đề xuất và quyết định", "Proposals and decisions"),
    "proposal.no_history": ("Chưa có đề xuất nào.", "No proposal yet."),
    "purposes.title": ("Danh mục mục đích", "The purpose catalogue"),
    "purposes.intro": (
        "Mã mục đích mà cơ quan gửi trong X-Purpose. Mọi thay đổi là một đề xuất, do quản trị "
        "viên nền tảng (không phải người đề xuất) phê duyệt.",
        "The codes agencies send in X-Purpose. Every change is a proposal, approved by the "
        "platform's administrator (not its proposer).",
    ),
    "purposes.new": ("Đề xuất mục đích mới", "Propose a new purpose"),
    "purposes.none": ("Chưa có mục đích nào.", "No purposes."),
    "purpose.code": ("Mã mục đích", "Purpose code"),
    "purpose.code_hint": (
        "Chữ in hoa, chữ số, - hoặc _, ví dụ CT01 hoặc TD-VAY.",
        "Capitals, digits, - or _, e.g. CT01 or TD-VAY.",
    ),
    "purpose.title": ("Tên mục đích", "Title"),
    "purpose.procedure": ("Thủ tục hành chính", "Procedure"),
    "purpose.case_bound": ("Gắn với hồ sơ một cửa", "Bound to one-stop dossiers"),
    "purpose.case_bound_short": ("Gắn hồ sơ", "Case-bound"),
    "purpose.case_bound_hint": (
        "Mỗi yêu cầu cho mục đích này phải nêu một hồ sơ đã đăng ký (X-Dossier).",
        "Every request for it must name a registered dossier (X-Dossier).",
    ),
    "purpose.new_title": ("Đề xuất mục đích mới", "Propose a new purpose"),
    "purpose.new_intro": (
        "Mục đích vào danh mục khi quản trị viên nền tảng phê duyệt.",
        "The purpose enters the catalogue once the platform's administrator approves it.",
    ),
    "purpose.propose": ("Gửi đề xuất", "Propose"),
    "purpose.page_title": ("Mục đích {code}", "Purpose {code}"),
    "purpose.change_title": ("Đề xuất thay đổi", "Propose a change"),
    "purpose.change_hint": (
        "Phiên bản đang có hiệu lực giữ nguyên cho đến khi thay đổi được phê duyệt; một đề xuất "
        "mới thay cho đề xuất đang chờ.",
        "The version in force stays until the change is approved; a new proposal replaces a "
        "pending one.",
    ),
    "purpose.propose_change": ("Gửi đề xuất thay đổi", "Propose the change"),
    "forms.title": ("Biểu mẫu điền sẵn", "Prefill forms"),
    "forms.intro": (
        "Mỗi biểu mẫu đọc các trường của một loại đối tượng cho một mục đích; chính sách quyết "
        "định từng trường. Thay đổi do cán bộ phụ trách mọi sổ đăng ký mà biểu mẫu đọc phê duyệt.",
        "Each form reads fields of a subject type for a purpose; the policy decides every field. "
        "A change is approved by a steward of every registry the form reads.",
    ),
    "forms.new": ("Soạn biểu mẫu mới", "Write a new form"),
    "forms.none": ("Chưa có biểu mẫu nào.", "No forms."),
    "form.code": ("Mã biểu mẫu", "Form code"),
    "form.title": ("Tên biểu mẫu", "Title"),
    "form.source": ("Nguồn", "Source"),
    "form.source_file": ("tệp graphql/forms/", "file in graphql/forms/"),
    "form.source_steward": ("do cán bộ phê duyệt", "approved by stewards"),
    "form.new_title": ("Soạn biểu mẫu mới", "Write a new form"),
    "form.page_title": ("Biểu mẫu {code}", "Form {code}"),
    "form.diff": (
        "Thay đổi so với phiên bản đang có hiệu lực",
        "Change against the version in force",
    ),
    "form.proposed_new": ("Biểu mẫu mới được đề xuất", "The new form proposed"),
    "form.editor": ("Sửa biểu mẫu (YAML)", "Edit the form (YAML)"),
    "form.editor_hint": (
        "Định dạng của graphql/forms/*.yaml: title, procedure, legal_reference, purpose, "
        "subject_type và fields (key, label, path — đường dẫn trường GraphQL như "
        "household.head.fullName). Lưu là gửi đề xuất; biểu mẫu được biên dịch theo lược đồ "
        "trước.",
        "The format of graphql/forms/*.yaml: title, procedure, legal_reference, purpose, "
        "subject_type and fields (key, label, path — a GraphQL field path such as "
        "household.head.fullName). Saving proposes it; it is compiled against the schema first.",
    ),
    "form.template": ("Nội dung biểu mẫu (YAML)", "The form (YAML)"),
    "form.compile_errors": ("Biểu mẫu có lỗi", "The form has errors"),
    "form.line": ("Dòng {line}", "Line {line}"),
    "form.not_saved": ("Chưa lưu gì.", "Nothing was saved."),
    "form.save": ("Lưu và gửi phê duyệt", "Save and submit for approval"),
    "form.preview": ("Xem trước dữ liệu điền sẵn", "Preview the prefill"),
    "form.preview_hint": (
        "Điền biểu mẫu như trên (chưa cần lưu) cho một đối tượng, như cơ quan đã chọn nhận được "
        "cho mục đích của biểu mẫu. Xem trước có dữ liệu cá nhân được ghi vào nhật ký truy cập.",
        "Fills the form above (saved or not) for a subject as the chosen agency would get it "
        "for the form's purpose. A preview shows personal data and is written to the access log.",
    ),
    "form.preview_agency": (
        "Cơ quan (✓: có thỏa thuận cho mục đích này)",
        "Agency (✓: an agreement serves this purpose)",
    ),
    "form.preview_subject": (
        "Mã đối tượng (số định danh cá nhân, mã doanh nghiệp, mã thửa)",
        "Subject key (personal ID, enterprise code, parcel id)",
    ),
    "form.preview_button": ("Xem trước", "Preview"),
    "form.preview_title": ("Dữ liệu điền sẵn cho {subject}", "The prefill for {subject}"),
    "form.preview_as": (
        "Như cơ quan {agency} nhận được cho mục đích {purpose}.",
        "As {agency} would get it for purpose {purpose}.",
    ),
    "form.preview_logged": (
        "Lần xem này đã được ghi vào nhật ký truy cập.",
        "This view is recorded in the access log.",
    ),
    "form.preview_absent": (
        "Sổ đăng ký không có đối tượng này.",
        "The registry holds no such subject.",
    ),
    "form.field_label": ("Trường của biểu mẫu", "Form field"),
    "form.value": ("Giá trị", "Value"),
    "form.provenance": ("Nguồn dữ liệu", "Provenance"),
    "form.missing": ("Không điền", "Not filled"),
    "documents.title": ("Truy vấn của cơ quan", "Agency documents"),
    "documents.intro": (
        "Truy vấn GraphQL mà cơ quan xin được chạy cho một mục đích; được chạy khi cán bộ phụ "
        "trách mọi sổ đăng ký mà truy vấn đọc (không phải người đề xuất) phê duyệt.",
        "GraphQL queries an agency asks to run for a purpose; run once a steward of every "
        "registry they read (not their proposer) approves.",
    ),
    "documents.none": ("Không có truy vấn nào.", "No documents."),
    "document.id": ("Truy vấn", "Document"),
    "document.reaches": ("Đọc", "Reads"),
    "document.needs": ("Cần phê duyệt của", "Needs approval of"),
    "document.approvals": ("Đã phê duyệt", "Approvals"),
    "document.page_title": ("Truy vấn {id}", "Document {id}"),
    "document.text": ("Nội dung truy vấn", "The document's text"),
    "document.reach": ("Những gì truy vấn đọc", "What it reads"),
    "document.reach_hint": (
        "Mỗi trường đọc được, và thỏa thuận đang có hiệu lực cung cấp trường đó cho cơ quan với "
        "mục đích này.",
        "Each field it reads, and the agreement in force that gives it to the agency for this "
        "purpose.",
    ),
    "document.read": ("Trường được đọc", "Field read"),
    "document.given_by": ("Thỏa thuận cung cấp", "Given by"),
    "document.not_given": ("không thỏa thuận nào cung cấp", "no agreement gives it"),
    "document.reads_nothing": ("Không đọc dữ liệu đối tượng nào.", "Reads no subject's data."),
    "document.note": (
        "Ghi chú (bắt buộc khi từ chối, tạm dừng, thu hồi)",
        "Note (required to reject, suspend, revoke)",
    ),
    "document.step_approve": ("Phê duyệt", "Approve"),
    "document.step_reject": ("Từ chối", "Reject"),
    "document.step_suspend": ("Tạm dừng", "Suspend"),
    "document.step_resubmit": ("Gửi duyệt lại", "Resubmit"),
    "document.step_revoke": ("Thu hồi", "Revoke"),
    "document.done_approved": (
        "Đã phê duyệt: cơ quan chạy được từ yêu cầu tiếp theo.",
        "Approved: the agency runs it from its next request.",
    ),
    "document.done_submitted": (
        "Đã ghi nhận; vẫn chờ phê duyệt của phạm vi còn lại.",
        "Recorded; it still waits for the other scopes' approval.",
    ),
    "document.done_rejected": ("Đã từ chối.", "Rejected."),
    "document.done_suspended": ("Đã tạm dừng.", "Suspended."),
    "document.done_revoked": ("Đã thu hồi.", "Revoked."),
    "explain.title": ("Giải thích quyết định", "Explain a decision"),
    "explain.intro": (
        "Cơ quan X có được xem trường Y của đối tượng Z cho mục đích P vào lúc này không, và vì "
        "sao: cùng chính sách mà cổng dữ liệu áp dụng. Mỗi lần hỏi được ghi vào nhật ký truy cập.",
        "Would agency X see field Y of subject Z for purpose P now, and why: the same policy "
        "the gateway runs. Every question is written to the access log.",
    ),
    "explain.agency": ("Cơ quan", "Agency"),
    "explain.purpose": ("Mục đích", "Purpose"),
    "explain.type": ("Loại đối tượng", "Subject type"),
    "explain.type_hint": (
        "Đổi loại rồi bấm “Hiện trường của loại này”.",
        "Change the type, then press “Show this type's fields”.",
    ),
    "explain.subject": ("Mã đối tượng", "Subject key"),
    "explain.field": ("Trường", "Fields"),
    "explain.via": ("Đến qua quan hệ", "Reached through"),
    "explain.via_root": ("Tra cứu trực tiếp theo mã", "Looked up by key"),
    "explain.ask": ("Giải thích", "Explain"),
    "explain.show_fields": ("Hiện trường của loại này", "Show this type's fields"),
    "explain.answer_title": (
        "{agency} · {purpose} · {type} {subject}",
        "{agency} · {purpose} · {type} {subject}",
    ),
    "explain.agency_status": ("Cơ quan: {status}", "Agency: {status}"),
    "explain.at": ("lúc {at}", "at {at}"),
    "explain.through": ("qua {via}", "through {via}"),
    "explain.logged": ("đã ghi vào nhật ký truy cập", "written to the access log"),
    "explain.outcome": ("Kết quả", "Outcome"),
    "explain.why": ("Vì sao", "Why"),
    "explain.considered": ("Các thỏa thuận đã xét", "Agreements considered"),
    "explain.outcome_allow": ("được cung cấp", "given"),
    "explain.outcome_mask": ("cung cấp có che", "given masked"),
    "explain.outcome_deny": ("bị từ chối", "refused"),
    "explain.applies": ("áp dụng", "applies"),
    "explain.not_applies": ("không áp dụng", "does not apply"),
    "explain.other_purpose": ("mục đích khác", "another purpose"),
    "explain.other_type": ("loại đối tượng khác", "another type"),
    "explain.consent": ("cần sự đồng ý", "consent required"),
    "explain.no_agreement": (
        "Cơ quan không có thỏa thuận nào cho mục đích và loại này.",
        "The agency has no agreement for this purpose and type.",
    ),
    # statuses
    "status.draft": ("bản nháp", "draft"),
    "status.submitted": ("chờ phê duyệt", "submitted"),
    "status.approved": ("đã phê duyệt", "approved"),
    "status.rejected": ("bị từ chối", "rejected"),
    "status.suspended": ("tạm dừng", "suspended"),
    "status.expired": ("hết hiệu lực", "expired"),
    # agencies, alerts, consents, loads, the access log (gateway/console/agencies.py,
    # consents.py, etl_runs.py, audit.py)
    "nav.agencies": ("Cơ quan", "Agencies"),
    "nav.consents": ("Sự đồng ý", "Consents"),
    "nav.etl": ("Nạp dữ liệu", "Loads"),
    "nav.audit": ("Nhật ký truy cập", "Access log"),
    "agencies.title": ("Cơ quan kết nối", "Agencies"),
    "agencies.new": ("Đăng ký cơ quan", "Register an agency"),
    "agencies.new_intro": (
        "Chỉ quản trị viên nền tảng (vai trò admin) được đăng ký, tạm dừng và khôi phục cơ quan.",
        "Only the platform's administrator (role admin) registers, suspends and reactivates "
        "agencies.",
    ),
    "agencies.alerts_link": ("Cảnh báo truy cập hàng loạt", "Bulk-access alerts"),
    "agencies.client_id": ("Mã cơ quan (client id)", "Client id"),
    "agencies.client_id_hint": (
        "Chữ thường, chữ số và dấu gạch ngang, ví dụ motcua-danang.",
        "Lower-case letters, digits and dashes, e.g. motcua-danang.",
    ),
    "agencies.name": ("Tên cơ quan", "Name"),
    "agencies.kind": ("Loại cơ quan", "Kind"),
    "agencies.kind_hint": (
        "Ví dụ: phần mềm một cửa, cơ quan thuế, ngân hàng.",
        "For example: one-stop software, tax department, bank.",
    ),
    "agencies.province": ("Tỉnh, thành phố (mã 2 chữ số)", "Province (2-digit code)"),
    "agencies.province_hint": (
        "Để trống với cơ quan trung ương. Cán bộ quản trị của tỉnh này được quyết định cho cơ "
        "quan.",
        "Empty for a national agency. Stewards of this province may decide for it.",
    ),
    "agencies.province_short": ("Tỉnh", "Province"),
    "agencies.national": ("trung ương", "national"),
    "agencies.status": ("Trạng thái", "Status"),
    "agencies.status_active": ("đang hoạt động", "active"),
    "agencies.status_suspended": ("tạm dừng", "suspended"),
    "agencies.none": ("Không có cơ quan nào.", "No agencies."),
    "agencies.register": ("Đăng ký", "Register"),
    "agencies.one_title": ("Cơ quan {id}", "Agency {id}"),
    "agencies.about": ("Thông tin", "About"),
    "agencies.suspended_by": ("Người tạm dừng", "Suspended by"),
    "agencies.suspend": ("Tạm dừng cơ quan", "Suspend the agency"),
    "agencies.suspend_hint": (
        "Từ yêu cầu tiếp theo cơ quan không còn nhận được dữ liệu nào.",
        "From its very next request the agency gets no data.",
    ),
    "agencies.reactivate": ("Khôi phục hoạt động", "Reactivate"),
    "agencies.reactivate_hint": (
        "Người đã tạm dừng không được tự khôi phục (nguyên tắc bốn mắt).",
        "Whoever suspended it may not reactivate it (four-eyes).",
    ),
    "agencies.done_registered": ("Đã đăng ký cơ quan.", "The agency is registered."),
    "agencies.done_suspended": (
        "Đã tạm dừng: từ yêu cầu tiếp theo không còn cung cấp dữ liệu.",
        "Suspended: nothing is given from the next request.",
    ),
    "agencies.done_reactivated": ("Đã khôi phục hoạt động.", "Reactivated."),
    "agencies.done_key_registered": ("Đã đăng ký khóa.", "The key is registered."),
    "agencies.done_key_retired": ("Đã thu hồi khóa.", "The key is retired."),
    "agencies.keys": ("Khóa xác thực cán bộ", "Officer-assertion keys"),
    "agencies.keys_intro": (
        "Khóa công khai mà phần mềm của cơ quan dùng để ký xác nhận cán bộ thực hiện.",
        "Public keys the agency's software signs its officer assertions with.",
    ),
    "agencies.key_type": ("Loại khóa", "Key type"),
    "agencies.key_created": ("Đăng ký", "Registered"),
    "agencies.key_retired": ("Thu hồi", "Retired"),
    "agencies.key_active": ("đang dùng", "active"),
    "agencies.retire": ("Thu hồi", "Retire"),
    "agencies.no_keys": ("Chưa có khóa nào.", "No keys."),
    "agencies.key_new": ("Đăng ký khóa mới", "Register a new key"),
    "agencies.jwk": ("Khóa công khai (JWK, JSON)", "Public key (JWK, JSON)"),
    "agencies.jwk_hint": (
        "RSA từ 2048 bit hoặc EC P-256, có kid. Không bao giờ dán khóa bí mật.",
        "RSA of at least 2048 bits or EC P-256, with a kid. Never a private key.",
    ),
    "agencies.key_register": ("Đăng ký khóa", "Register the key"),
    "alerts.title": ("Cảnh báo truy cập hàng loạt", "Bulk-access alerts"),
    "alerts.intro": (
        "Truy cập bất thường phát hiện từ nhật ký: cán bộ xem quá nhiều hồ sơ, truy cập ngoài "
        "giờ, tra cứu mã không tồn tại, hồ sơ một cửa tra cứu quá rộng.",
        "Unusual access found in the log: an officer reading too many records, reads out of "
        "hours, lookups of keys that do not exist, a dossier reaching too far.",
    ),
    "alerts.kind": ("Loại", "Kind"),
    "alerts.kind_officer_volume": ("Cán bộ truy cập nhiều", "Officer volume"),
    "alerts.kind_off_hours": ("Ngoài giờ làm việc", "Off hours"),
    "alerts.kind_absent_lookups": ("Tra cứu mã không tồn tại", "Absent lookups"),
    "alerts.kind_dossier_breadth": ("Hồ sơ tra cứu quá rộng", "Dossier breadth"),
    "alerts.status_open": ("chờ xem xét", "open"),
    "alerts.status_reviewed": ("đã xem xét", "reviewed"),
    "alerts.status_dismissed": ("không đáng lo ngại", "dismissed"),
    "alerts.who": ("Cán bộ, hồ sơ", "Officer, dossier"),
    "alerts.window": ("Khoảng thời gian", "Window"),
    "alerts.entries": ("Lượt", "Entries"),
    "alerts.subjects": ("Đối tượng", "Subjects"),
    "alerts.review": ("Kết luận", "Review"),
    "alerts.conclusion": ("Kết luận", "Conclusion"),
    "alerts.note": ("Ghi chú (bắt buộc)", "Note (required)"),
    "alerts.reviewed": ("Đã xem xét", "Reviewed"),
    "alerts.dismissed": ("Không đáng lo ngại", "Dismiss"),
    "alerts.done_reviewed": ("Đã ghi nhận kết luận: đã xem xét.", "Recorded as reviewed."),
    "alerts.done_dismissed": (
        "Đã ghi nhận kết luận: không đáng lo ngại.",
        "Recorded as dismissed.",
    ),
    "alerts.none": ("Không có cảnh báo nào.", "No alerts."),
    "consents.title": ("Sự đồng ý của công dân", "Citizens' consents"),
    "consents.logged": (
        "Kết quả tìm kiếm là dữ liệu cá nhân: mỗi lần xem được ghi vào nhật ký truy cập, và "
        "công dân được tìm sẽ thấy.",
        "The results are personal data: each view is recorded in the access log, and the "
        "citizen searched for sees it.",
    ),
    "consents.subject_id": ("Số định danh cá nhân", "Personal ID"),
    "consents.agency": ("Cơ quan", "Agency"),
    "consents.purpose": ("Mục đích", "Purpose"),
    "consents.fields": ("Trường dữ liệu", "Fields"),
    "consents.fields_hint": (
        "Các trường của công dân mà cơ quan được xem theo sự đồng ý.",
        "The resident's fields the agency may see with this consent.",
    ),
    "consents.search": ("Tìm", "Search"),
    "consents.granted_at": ("Ngày đồng ý", "Given on"),
    "consents.expires_at": (
        "Có hiệu lực đến hết ngày",
        "In force until the end of",
    ),
    "consents.expires_at_short": ("Hết hạn", "Expires"),
    "consents.state": ("Tình trạng", "State"),
    "consents.in_force": ("đang có hiệu lực", "in force"),
    "consents.revoked": ("đã rút lại lúc {at}", "withdrawn at {at}"),
    "consents.channel": ("Hình thức", "Channel"),
    "consents.channel_online": ("trực tuyến", "online"),
    "consents.channel_paper": ("tại quầy (giấy)", "at a counter (paper)"),
    "consents.none": ("Không tìm thấy sự đồng ý nào.", "No consents found."),
    "consents.cursor": ("Trang", "Page"),
    "consents.paper_title": ("Ghi nhận sự đồng ý trên giấy", "Record a paper consent"),
    "consents.paper_intro": (
        "Phiếu đồng ý công dân đã ký tại quầy một cửa. Công dân sẽ thấy (và có thể rút lại) "
        "sự đồng ý này trong trang Dữ liệu của tôi; có hiệu lực từ yêu cầu tiếp theo.",
        "A consent form the citizen signed at a one-stop counter. The citizen sees (and may "
        "withdraw) it in My data; it counts from the next request.",
    ),
    "consents.officer": ("Cán bộ tiếp nhận", "Officer who took it"),
    "consents.officer_hint": (
        "Mã cán bộ (chữ, số, . @ : _ -), tối đa 64 ký tự.",
        "The officer's id (letters, digits, . @ : _ -), at most 64 characters.",
    ),
    "consents.document_reference": ("Số phiếu", "Form reference"),
    "consents.record": ("Ghi nhận", "Record"),
    "consents.done_recorded": ("Đã ghi nhận sự đồng ý.", "The consent is recorded."),
    "etl.title": ("Nạp dữ liệu đăng ký", "Registry loads"),
    "etl.intro": (
        "Mỗi lần nạp: số liệu đối soát, báo cáo của bộ kiểm soát tỷ lệ thay đổi, và hoàn tác.",
        "Every load: its reconciliation, the change-rate guard's report, and rollbacks.",
    ),
    "etl.waiting": ("Chờ chấp nhận thay đổi", "Waiting for acceptance"),
    "etl.none_waiting": (
        "Không có lần nạp nào bị dừng chờ chấp nhận.",
        "No stopped load waits for acceptance.",
    ),
    "etl.run": ("Lần nạp #{id}", "Load #{id}"),
    "etl.over": ("vượt ngưỡng", "over"),
    "etl.over_limit": ("vượt ngưỡng", "over the limit"),
    "etl.target": ("Sổ đăng ký", "Registry"),
    "etl.status": ("Trạng thái", "Status"),
    "etl.status_running": ("đang chạy", "running"),
    "etl.status_done": ("hoàn tất", "done"),
    "etl.status_unbalanced": ("không cân đối", "unbalanced"),
    "etl.status_failed": ("lỗi", "failed"),
    "etl.status_refused": ("bị dừng", "stopped"),
    "etl.status_dry-run": ("chạy thử", "dry run"),
    "etl.status_rollback": ("hoàn tác", "rollback"),
    "etl.started": ("Bắt đầu", "Started"),
    "etl.read": ("Đọc", "Read"),
    "etl.inserted": ("Thêm mới", "Inserted"),
    "etl.updated": ("Cập nhật", "Updated"),
    "etl.unchanged": ("Không đổi", "Unchanged"),
    "etl.rejected": ("Bị loại", "Rejected"),
    "etl.closed": ("Đóng (xuất toàn bộ)", "Closed (full export)"),
    "etl.actor": ("Người chạy", "Run by"),
    "etl.rolled_back_by": ("hoàn tác bởi #{id}", "rolled back by #{id}"),
    "etl.none": ("Chưa có lần nạp nào.", "No loads yet."),
    "etl.figures": ("Đối soát", "Reconciliation"),
    "etl.source": ("Tệp nguồn", "Source file"),
    "etl.merged_at": ("Ghi vào sổ lúc", "Merged at"),
    "etl.rollback_of": ("Hoàn tác của", "Rollback of"),
    "etl.rolled_back": ("Đã hoàn tác bởi", "Rolled back by"),
    "etl.guard": ("Bộ kiểm soát tỷ lệ thay đổi", "The change-rate guard"),
    "etl.guard_summary": (
        "{existing} bản ghi đã có được chạm đến, {updated} sẽ được cập nhật ({share}; ngưỡng "
        "{limit}).",
        "{existing} existing records touched, {updated} to update ({share}; limit {limit}).",
    ),
    "etl.guard_not_applied": (
        "Quá ít bản ghi đã có để áp dụng ngưỡng.",
        "Too few existing records for the limits to apply.",
    ),
    "etl.guard_accepted": ("Thay đổi đã được chấp nhận.", "The changes were accepted."),
    "etl.no_guard": ("Không có số liệu kiểm soát.", "No guard figures."),
    "etl.field": ("Trường", "Field"),
    "etl.changed": ("Thay đổi", "Changed"),
    "etl.share": ("Tỷ lệ", "Share"),
    "etl.limit": ("Ngưỡng", "Limit"),
    "etl.samples": ("Ví dụ (trước → sau)", "Samples (before → after)"),
    "etl.full_export": ("Xuất toàn bộ", "Full export"),
    "etl.accept_title": ("Chấp nhận thay đổi", "Accept the changes"),
    "etl.accept_hint": (
        "Nạp lại đúng tệp này, chấp nhận các thay đổi vượt ngưỡng (như etl load "
        "--accept-changes). Giá trị bị lỗi mã hóa vẫn bị loại.",
        "Load this very file again, accepting the changes beyond the limits (as etl load "
        "--accept-changes). Damaged text is rejected all the same.",
    ),
    "etl.accept": ("Chấp nhận và nạp", "Accept and load"),
    "etl.reject_hint": (
        "Không chấp nhận: không cần làm gì, lần nạp này không ghi gì vào sổ.",
        "Not accepting: nothing to do, this load merged nothing.",
    ),
    "etl.rollback_title": ("Hoàn tác lần nạp", "Roll the load back"),
    "etl.rollback_hint": (
        "Đóng các phiên bản lần nạp đã mở và mở lại các phiên bản nó đã đóng, thành lịch sử "
        "mới. Bị từ chối nếu bản ghi đã thay đổi sau đó.",
        "Closes the versions the load opened and opens again those it closed, as new history. "
        "Refused if a record it touched has changed since.",
    ),
    "etl.rollback": ("Hoàn tác", "Roll back"),
    "etl.done_accepted": ("Đã chấp nhận và nạp.", "Accepted and loaded."),
    "etl.done_rolled_back": ("Đã hoàn tác.", "Rolled back."),
    "audit.title": ("Nhật ký truy cập", "Access log"),
    "audit.logged": (
        "Mỗi lần tìm kiếm hoặc tải về được ghi vào nhật ký truy cập (giám sát); tìm theo một "
        "người thì người đó sẽ thấy.",
        "Every search or download is recorded in the access log (oversight); a search for one "
        "person is shown to them.",
    ),
    "audit.agency": ("Cơ quan", "Agency"),
    "audit.purpose": ("Mục đích", "Purpose"),
    "audit.subject_type": ("Loại đối tượng", "Subject type"),
    "audit.subject_id": ("Mã đối tượng", "Subject id"),
    "audit.outcome": ("Kết quả", "Outcome"),
    "audit.outcome_disclosed": ("đã cung cấp", "disclosed"),
    "audit.outcome_refused": ("bị từ chối", "refused"),
    "audit.outcome_absent": ("mã không tồn tại", "absent"),
    "audit.outcome_oversight": ("giám sát", "oversight"),
    "audit.outcome_self": ("công dân tự xem", "self"),
    "audit.outcome_dossier": ("hồ sơ một cửa", "dossier"),
    "audit.since": ("Từ ngày", "From"),
    "audit.until": ("Đến hết ngày", "Until (inclusive)"),
    "audit.cursor": ("Trang", "Page"),
    "audit.search": ("Tìm", "Search"),
    "audit.export": ("Tải về CSV", "Download CSV"),
    "audit.results": ("Kết quả", "Results"),
    "audit.when": ("Thời điểm", "Time"),
    "audit.officer": ("Cán bộ", "Officer"),
    "audit.subject": ("Đối tượng", "Subject"),
    "audit.fields": ("Trường dữ liệu", "Fields"),
    "audit.given": ("cung cấp", "given"),
    "audit.masked": ("che", "masked"),
    "audit.denied": ("từ chối", "denied"),
    "audit.none": ("Không có bản ghi nào.", "No entries."),
    "audit.first_page": ("Về trang đầu", "First page"),
    # citizens
    "me.title": ("Dữ liệu của tôi", "My data"),
    "me.intro": (
        "Bạn đã đăng nhập với số định danh cá nhân {citizen_id}.",
        "You are signed in with personal ID {citizen_id}.",
    ),
    # citizens: who looked at my data, my consents (gateway/console/me.py)
    "nav.me_log": ("Ai đã xem dữ liệu của tôi", "Who looked at my data"),
    "nav.me_consents": ("Sự đồng ý của tôi", "My consents"),
    "me.log.title": ("Ai đã xem dữ liệu của tôi", "Who looked at my data"),
    "me.log.intro": (
        "Mỗi lần một cơ quan xem (hoặc bị từ chối xem) dữ liệu của bạn đều được ghi lại: cơ "
        "quan nào, vì mục đích gì, cán bộ nào, hồ sơ nào và những trường dữ liệu nào.",
        "Every time an agency saw (or was refused) your data is recorded: which agency, for "
        "what purpose, which officer, which dossier and which fields.",
    ),
    "me.log.agency": ("Cơ quan", "Agency"),
    "me.log.all_agencies": ("Tất cả cơ quan", "All agencies"),
    "me.log.since": ("Từ ngày", "From"),
    "me.log.until": ("Đến hết ngày", "Until (inclusive)"),
    "me.log.filter": ("Lọc", "Filter"),
    "me.log.csv": ("Tải về (CSV)", "Download (CSV)"),
    "me.log.none": (
        "Chưa có lượt truy cập nào vào dữ liệu của bạn trong phạm vi này.",
        "Nobody looked at your data within this range.",
    ),
    "me.log.time": ("Thời điểm", "Time"),
    "me.log.purpose": ("Mục đích", "Purpose"),
    "me.log.officer": ("Cán bộ", "Officer"),
    "me.log.verified": ("đã xác thực", "verified"),
    "me.log.dossier": ("Hồ sơ", "Dossier"),
    "me.log.fields": ("Trường dữ liệu", "Fields"),
    "me.log.given": ("Đã cung cấp", "Given"),
    "me.log.masked": ("Cung cấp một phần (che)", "Given masked"),
    "me.log.denied": ("Bị từ chối", "Refused"),
    "me.log.outcome": ("Kết quả", "Outcome"),
    "me.log.legal_basis": ("Căn cứ", "Basis"),
    "me.log.agency_code": ("Mã cơ quan", "Agency code"),
    "me.log.purpose_code": ("Mã mục đích", "Purpose code"),
    "me.log.next": ("Trang sau", "Next page"),
    "me.log.first": ("Về trang đầu", "Back to the first page"),
    "me.log.bad_date": (
        "{value} không phải là ngày (YYYY-MM-DD)",
        "{value} is not a date (YYYY-MM-DD)",
    ),
    "me.log.bad_agency": ("{value} không phải là mã cơ quan", "{value} is not an agency code"),
    "me.log.bad_period": (
        "Ngày bắt đầu phải trước hoặc bằng ngày kết thúc",
        "The start must not be after the end",
    ),
    "me.log.bad_cursor": (
        "Liên kết trang không hợp lệ; hãy quay về trang đầu",
        "That page link is not valid; go back to the first page",
    ),
    "me.outcome.disclosed": ("Đã cung cấp", "Given"),
    "me.outcome.refused": ("Bị từ chối", "Refused"),
    "me.outcome.oversight": ("Cán bộ quản trị dữ liệu xem", "Seen by a data steward"),
    "me.outcome.dossier": ("Hồ sơ một cửa nêu tên bạn", "A one-stop dossier names you"),
    "me.purpose.oversight": ("Giám sát, kiểm tra", "Oversight"),
    "me.consents.title": ("Sự đồng ý của tôi", "My consents"),
    "me.consents.intro": (
        "Một số cơ quan chỉ được xem dữ liệu của bạn khi bạn đồng ý. Bạn có thể đồng ý cho "
        "từng trường dữ liệu, có thời hạn, và rút lại bất cứ lúc nào: từ yêu cầu tiếp theo cơ "
        "quan không còn được xem.",
        "Some agencies may see your data only with your consent. You can consent field by "
        "field, until a date, and withdraw at any time: the agency's next request is refused.",
    ),
    "me.consents.current": ("Sự đồng ý đã cho", "Consents given"),
    "me.consents.none": ("Bạn chưa đồng ý cho cơ quan nào.", "You have given no consent."),
    "me.consents.granted_at": ("Ngày đồng ý", "Given on"),
    "me.consents.expires_at": ("Hết hạn", "Expires"),
    "me.consents.state": ("Tình trạng", "State"),
    "me.consents.in_force": ("đang có hiệu lực", "in force"),
    "me.consents.revoked": ("đã rút lại ngày {day}", "withdrawn on {day}"),
    "me.consents.expired": ("đã hết hạn", "expired"),
    "me.consents.channel": ("Hình thức", "Given"),
    "me.consents.channel_online": ("trực tuyến", "online"),
    "me.consents.channel_paper": ("tại quầy (giấy)", "at a counter (paper)"),
    "me.consents.revoke": ("Rút lại", "Withdraw"),
    "me.consents.revoke_label": (
        "Rút lại sự đồng ý cho {agency} ({purpose})",
        "Withdraw the consent to {agency} ({purpose})",
    ),
    "me.consents.grant_title": ("Đồng ý cho một cơ quan", "Give a consent"),
    "me.consents.no_offers": (
        "Hiện không có cơ quan nào cần sự đồng ý của bạn.",
        "No agency currently asks for your consent.",
    ),
    "me.consents.offer": ("{agency} · {purpose}", "{agency} · {purpose}"),
    "me.consents.basis": ("Căn cứ: {basis}", "Basis: {basis}"),
    "me.consents.fields": (
        "Những trường dữ liệu cơ quan được xem",
        "The fields the agency may see",
    ),
    "me.consents.expires": ("Có hiệu lực đến hết ngày", "Valid until the end of"),
    "me.consents.grant": ("Đồng ý", "Give consent"),
    "me.consents.granted": (
        "Đã ghi nhận sự đồng ý: có hiệu lực từ yêu cầu tiếp theo của cơ quan.",
        "Consent recorded: in force from the agency's next request.",
    ),
    "me.consents.withdrawn": (
        "Đã rút lại sự đồng ý: yêu cầu tiếp theo của cơ quan sẽ bị từ chối.",
        "Consent withdrawn: the agency's next request is refused.",
    ),
    "me.consent.no_offer": (
        "Không có thỏa thuận nào cho phép cơ quan {agency} xem dữ liệu với sự đồng ý cho mục "
        "đích {purpose}",
        "No agreement lets agency {agency} see data with consent for purpose {purpose}",
    ),
    "me.consent.no_fields": (
        "Hãy chọn ít nhất một trường dữ liệu",
        "Choose at least one field",
    ),
    "me.consent.outside": (
        "Thỏa thuận không cho phép xem các trường này kể cả khi bạn đồng ý: {fields}",
        "No agreement lets the agency see these fields, even with your consent: {fields}",
    ),
    "me.consent.too_many": (
        "Chọn nhiều nhất {most} trường dữ liệu",
        "Choose at most {most} fields",
    ),
    "me.consent.bad_expiry": (
        "{value} không phải là ngày (YYYY-MM-DD)",
        "{value} is not a date (YYYY-MM-DD)",
    ),
    "me.consent.past_expiry": (
        "Ngày hết hạn phải từ hôm nay trở đi",
        "The end date must be today or later",
    ),
    "me.consent.not_yours": (
        "Bạn không có sự đồng ý nào với mã này",
        "You have no consent with this id",
    ),
    # corrections at the source (docs/corrections.md)
    "nav.corrections": ("Yêu cầu đính chính", "Corrections"),
    "nav.me_corrections": ("Đề nghị đính chính", "Corrections"),
    "status.reported": ("đã báo sai", "reported"),
    "status.forwarded": ("đã chuyển cơ quan nguồn", "forwarded"),
    "status.corrected": ("đã đính chính", "corrected"),
    "corrections.title": ("Yêu cầu đính chính dữ liệu", "Correction requests"),
    "corrections.intro": (
        "Công dân báo một trường dữ liệu sai; trường đó được đánh dấu đang tranh chấp cho đến "
        "khi cơ quan nguồn nạp giá trị đã sửa, hoặc yêu cầu bị từ chối kèm lý do.",
        "A citizen reports a field as wrong; it is flagged disputed until the source agency's "
        "load brings the corrected value, or the request is rejected with a reason.",
    ),
    "corrections.one": ("Yêu cầu đính chính số {id}", "Correction request {id}"),
    "corrections.all": ("Tất cả", "All"),
    "corrections.filter": ("Lọc", "Filter"),
    "corrections.none": ("Không có yêu cầu nào.", "No requests."),
    "corrections.subject": ("Công dân", "Resident"),
    "corrections.field": ("Trường dữ liệu", "Field"),
    "corrections.explanation": ("Lý do báo sai", "Explanation"),
    "corrections.disputed_value": ("Giá trị bị báo sai", "Disputed value"),
    "corrections.reported_by": ("Người báo", "Reported by"),
    "corrections.by_citizen": ("công dân", "the citizen"),
    "corrections.by_officer": ("cán bộ một cửa, có mặt công dân", "an officer, citizen present"),
    "corrections.reported_at": ("Thời điểm báo", "Reported"),
    "corrections.status": ("Trạng thái", "Status"),
    "corrections.history": ("Các bước", "Steps"),
    "corrections.source_agency": ("Cơ quan nguồn", "Source agency"),
    "corrections.sent_to": ("đã chuyển đến {agency}", "sent to {agency}"),
    "corrections.note": ("Ghi chú cho cơ quan nguồn", "Note for the source agency"),
    "corrections.reason": ("Lý do từ chối", "Reason for rejection"),
    "corrections.forward": ("Chuyển cơ quan nguồn", "Forward to the source agency"),
    "corrections.reject": ("Từ chối", "Reject"),
    "me.corrections.title": ("Đề nghị đính chính dữ liệu của tôi", "Corrections of my data"),
    "me.corrections.intro": (
        "Nếu một thông tin về bạn sai, hãy báo ở đây và nói rõ lý do. Thông tin đó được đánh "
        "dấu đang tranh chấp ngay trên mọi biểu mẫu cho đến khi được đính chính.",
        "If something about you is wrong, report it here and say why. It is flagged as disputed "
        "on every form at once until it is corrected.",
    ),
    "me.corrections.mine": ("Các đề nghị của tôi", "My requests"),
    "me.corrections.none": ("Bạn chưa có đề nghị nào.", "You have made no request."),
    "me.corrections.report_title": ("Báo một thông tin sai", "Report a wrong value"),
    "me.corrections.submit": ("Gửi đề nghị", "Send the request"),
    "me.corrections.done": ("Đã gửi đề nghị đính chính.", "Your request was sent."),
    "me.corrections.refused": ("Không thể gửi:", "Not sent:"),
}


def translator(language: str) -> Callable[..., str]:
    """`t(key, **values)` in `language` (Vietnamese unless English is asked for)."""
    index = 1 if language == "en" else 0

    def t(key: str, **values: Any) -> str:
        text = MESSAGES[key][index]
        return text.format(**values) if values else text

    return t


def status_label(language: str, status: str) -> str:
    key = f"status.{status}"
    return translator(language)(key) if key in MESSAGES else status
