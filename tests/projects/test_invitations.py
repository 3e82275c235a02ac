"""Invitations (API.md, "Invitations"): the whole lifecycle, the role rules, and who is told."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import User
from notifications.models import Notification
from projects import services
from projects.models import Invitation, WorkspaceMember
from realtime.models import Event
from tests import factories
from tests.api import conftest as api_conftest

pytestmark = pytest.mark.django_db

api = api_conftest.api
db_rows = api_conftest.db_rows


def invite(api, actor, workspace, email, role="editor"):
    return api(actor).post(f"/workspaces/{workspace.pk}/invitations", {"email": email, "role": role})


def test_an_owner_invites_an_address_with_no_account(api, workspace, owner):
    reply = invite(api, owner, workspace, "New.Person@Example.com", "owner")
    assert reply.status == 201
    body = reply.body
    assert set(body) == {"id", "workspace", "email", "role", "status", "invited_by", "created_at", "responded_at",
                         "expires_at"}
    assert (body["email"], body["role"], body["status"], body["workspace"]) == (
        "new.person@example.com", "owner", "pending", {"id": str(workspace.pk), "name": workspace.name})
    assert body["invited_by"]["id"] == str(owner.pk) and body["responded_at"] is None
    invitation = Invitation.objects.get(pk=body["id"])
    assert invitation.expires_at - invitation.created_at == datetime.timedelta(days=14)


@pytest.mark.parametrize(("who", "role", "status"), [
    ("owner", "viewer", 201), ("owner", "owner", 201), ("editor", "editor", 201), ("editor", "viewer", 201),
    ("editor", "owner", 403), ("viewer", "viewer", 403), ("outsider", "viewer", 404),
])
def test_who_may_invite_whom(request, api, workspace, who, role, status, db_rows):
    actor = request.getfixturevalue(who)
    before = db_rows()
    reply = invite(api, actor, workspace, "someone@example.com", role)
    assert reply.status == status, reply
    if status != 201:
        assert reply.body["code"] and isinstance(reply.body["detail"], str)
        api_conftest.assert_same_rows(before)


def test_a_member_or_a_pending_invitation_is_a_conflict(api, workspace, owner, viewer, db_rows):
    assert (invite(api, owner, workspace, viewer.email.upper()).body["code"]) == "already_member"
    assert invite(api, owner, workspace, "x@example.com").status == 201
    before = db_rows()
    again = invite(api, owner, workspace, "X@example.com")
    assert (again.status, again.body["code"]) == (409, "already_invited")
    api_conftest.assert_same_rows(before)


def test_a_bad_address_is_422(api, workspace, owner, db_rows):
    before = db_rows()
    reply = invite(api, owner, workspace, "not an address")
    assert reply.status == 422 and reply.body["code"] == "invalid"
    api_conftest.assert_same_rows(before)


def test_someone_with_an_account_is_notified_at_once(api, workspace, owner, outsider):
    reply = invite(api, owner, workspace, outsider.email)
    [note] = Notification.objects.filter(user=outsider)
    assert (str(note.invitation_id), note.type, note.workspace_id, note.text) == (
        reply.body["id"], "invitation_received", workspace.pk, f"{owner.display_name} invited you to {workspace.name}")


def test_an_invitation_waits_for_whoever_registers_with_the_address(api, workspace, owner):
    created = invite(api, owner, workspace, "later@example.com", "viewer").body
    assert api(None).post("/auth/register", {"email": "Later@Example.com", "password": "a-long-password-9"}).status \
        == 201
    newcomer = User.objects.get(email="later@example.com")
    [note] = Notification.objects.filter(user=newcomer)
    assert (note.type, str(note.invitation_id)) == ("invitation_received", created["id"])
    newcomer.set_password(factories.PASSWORD)  # so that the api fixture can sign in as them
    newcomer.save(update_fields=["password"])
    mine = api(newcomer).get("/me/invitations").body
    assert [i["id"] for i in mine["items"]] == [created["id"]]


def test_accepting_makes_a_member_and_tells_the_inviter(api, workspace, owner, outsider, new_events):
    invitation_id = invite(api, owner, workspace, outsider.email, "viewer").body["id"]
    with new_events(workspace=workspace) as got:
        reply = api(outsider).post(f"/invitations/{invitation_id}/accept")
    assert reply.status == 200 and reply.body["id"] == str(workspace.pk) and reply.body["role"] == "viewer"
    assert WorkspaceMember.objects.get(workspace=workspace, user=outsider).role == "viewer"
    assert got.types == ["member_added"] and got[0].data["user"]["id"] == str(outsider.pk)
    invitation = Invitation.objects.get(pk=invitation_id)
    assert invitation.status == "accepted" and invitation.responded_at is not None
    [note] = Notification.objects.filter(user=owner, type="invitation_accepted")
    assert note.text == f"{outsider.display_name} accepted your invitation to {workspace.name}"
    # A second click answers the same, and makes nothing more.
    again = api(outsider).post(f"/invitations/{invitation_id}/accept")
    assert again.status == 200 and again.body == reply.body
    assert WorkspaceMember.objects.filter(workspace=workspace, user=outsider).count() == 1
    assert Notification.objects.filter(user=owner, type="invitation_accepted").count() == 1


def test_declining_tells_the_inviter_and_ends_it(api, workspace, owner, outsider, db_rows):
    invitation_id = invite(api, owner, workspace, outsider.email).body["id"]
    reply = api(outsider).post(f"/invitations/{invitation_id}/decline")
    assert (reply.status, reply.body["status"]) == (200, "declined")
    assert Notification.objects.filter(user=owner, type="invitation_declined").count() == 1
    before = db_rows()
    for action in ("accept", "decline"):
        late = api(outsider).post(f"/invitations/{invitation_id}/{action}")
        assert (late.status, late.body["code"]) == (409, "not_pending")
    api_conftest.assert_same_rows(before)
    assert not WorkspaceMember.objects.filter(workspace=workspace, user=outsider).exists()


def test_only_the_invitee_answers_and_others_get_404(api, workspace, owner, editor, viewer, db_rows):
    invitation_id = invite(api, owner, workspace, "someone@example.com").body["id"]
    before = db_rows()
    for user in (owner, editor, viewer, None):
        for action in ("accept", "decline"):
            reply = api(user).post(f"/invitations/{invitation_id}/{action}")
            assert reply.status == (401 if user is None else 404), (user, action, reply)
    api_conftest.assert_same_rows(before)


def test_the_inviter_or_an_owner_cancels_and_no_one_else(api, workspace, owner, editor, editor_outside, outsider):
    by_editor = invite(api, editor, workspace, "a@example.com").body["id"]
    by_editor_too = invite(api, editor, workspace, "b@example.com").body["id"]
    for user in (editor_outside, outsider):
        assert api(user).delete(f"/invitations/{by_editor}").status == 404
    assert api(editor).delete(f"/invitations/{by_editor}").status == 204  # the inviter
    assert api(owner).delete(f"/invitations/{by_editor_too}").status == 204  # an owner
    assert set(Invitation.objects.values_list("status", flat=True)) == {"cancelled"}
    gone = api(owner).delete(f"/invitations/{by_editor}")
    assert (gone.status, gone.body["code"]) == (409, "not_pending")
    # a cancelled invitation can no longer be accepted by its addressee
    a = factories.user("a@example.com", "A")
    assert api(a).post(f"/invitations/{by_editor}/accept").status == 409
    assert not User.objects.filter(workspace_memberships__workspace=workspace, pk=a.pk).exists()


def test_an_invitation_expires_after_the_set_days(api, settings, workspace, owner, outsider, db_rows):
    settings.TASKHUB_INVITATION_DAYS = 3
    invitation_id = invite(api, owner, workspace, outsider.email).body["id"]
    Invitation.objects.filter(pk=invitation_id).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    assert api(owner).get(f"/workspaces/{workspace.pk}/invitations?status=expired").body["items"][0]["status"] == \
        "expired"
    assert api(owner).get(f"/workspaces/{workspace.pk}/invitations?status=pending").body["items"] == []
    assert api(outsider).get("/me/invitations").body["items"] == []
    before = db_rows()
    reply = api(outsider).post(f"/invitations/{invitation_id}/accept")
    assert (reply.status, reply.body["code"]) == (409, "not_pending")
    api_conftest.assert_same_rows(before)
    # A new invitation to the same address is allowed (the stale one is marked expired).
    assert invite(api, owner, workspace, outsider.email).status == 201
    assert sorted(Invitation.objects.values_list("status", flat=True)) == ["expired", "pending"]


def test_the_workspace_list_is_for_owners_and_editors_newest_first(api, workspace, owner, editor, viewer):
    first = invite(api, owner, workspace, "1@example.com").body["id"]
    second = invite(api, owner, workspace, "2@example.com").body["id"]
    page = api(editor).get(f"/workspaces/{workspace.pk}/invitations?limit=1").body
    assert [i["id"] for i in page["items"]] == [second]
    rest = api(editor).get(f"/workspaces/{workspace.pk}/invitations?cursor={page['next_cursor']}").body
    assert [i["id"] for i in rest["items"]] == [first]
    assert api(viewer).get(f"/workspaces/{workspace.pk}/invitations").status == 403


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent requests need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_accepts_make_one_membership(workspace, owner, outsider):
    import threading

    from django.db import connections

    invitation = services.invitation_create(workspace_id=workspace.pk, actor=owner, email=outsider.email,
                                            role="editor")
    start, answers, errors = threading.Barrier(2), [], []

    def click():
        try:
            start.wait()
            answers.append(services.invitation_accept(invitation_id=invitation.pk, user=outsider).pk)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=click) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and answers == [workspace.pk, workspace.pk]
    assert WorkspaceMember.objects.filter(workspace=workspace, user=outsider).count() == 1
    assert Event.objects.filter(workspace=workspace, type="member_added", data__user__id=str(outsider.pk)).count() == 1


def test_an_inviter_who_leaves_takes_their_pending_invitations_along(api, workspace, owner, editor, outsider):
    """An invitation grants what its inviter may still grant: removed, they leave no way in behind them."""
    from tasks import services as task_services

    pending = invite(api, editor, workspace, outsider.email, "editor").body["id"]
    elsewhere = invite(api, owner, workspace, "kept@example.com", "viewer").body["id"]
    task_services.workspace_member_remove(workspace_id=workspace.pk, actor=owner, user_id=editor.pk)
    assert Invitation.objects.get(pk=pending).status == "cancelled"
    assert Invitation.objects.get(pk=elsewhere).status == "pending"  # another inviter's
    reply = api(outsider).post(f"/invitations/{pending}/accept")
    assert (reply.status, reply.body["code"]) == (409, "not_pending")
    assert not WorkspaceMember.objects.filter(workspace=workspace, user=outsider).exists()


def test_a_demoted_inviter_keeps_only_the_invitations_their_new_role_could_send(api, workspace, owner, editor,
                                                                               outsider):
    from tasks import services as task_services

    services.workspace_member_add(workspace_id=workspace.pk, actor=owner, email=outsider.email, role="owner")
    as_owner = invite(api, outsider, workspace, "o@example.com", "owner").body["id"]
    as_editor = invite(api, outsider, workspace, "e@example.com", "editor").body["id"]
    as_viewer = invite(api, outsider, workspace, "v@example.com", "viewer").body["id"]
    task_services.workspace_member_update(workspace_id=workspace.pk, actor=owner, user_id=outsider.pk, role="editor")
    statuses = dict(Invitation.objects.values_list("id", "status"))
    assert [statuses[uuid] for uuid in map(__import__("uuid").UUID, (as_owner, as_editor, as_viewer))] == [
        "cancelled", "pending", "pending"]
    task_services.workspace_member_update(workspace_id=workspace.pk, actor=owner, user_id=outsider.pk, role="viewer")
    assert set(Invitation.objects.values_list("status", flat=True)) == {"cancelled"}


def test_a_former_member_cannot_cancel_or_learn_of_their_old_invitation(api, workspace, owner, editor):
    from tasks import services as task_services

    invitation_id = invite(api, editor, workspace, "x@example.com").body["id"]
    Invitation.objects.filter(pk=invitation_id).update(invited_by=editor)  # (it is theirs)
    task_services.workspace_member_remove(workspace_id=workspace.pk, actor=owner, user_id=editor.pk)
    Invitation.objects.filter(pk=invitation_id).update(status="pending")  # as if it had outlived them
    reply = api(editor).delete(f"/invitations/{invitation_id}")
    assert (reply.status, reply.body["code"]) == (404, "not_found")
    assert Invitation.objects.get(pk=invitation_id).status == "pending"


def test_accepting_after_a_direct_add_keeps_the_one_membership(workspace, owner, outsider, monkeypatch):
    """A direct add by an owner that lands between the accept's check and its insert (the race, played
    in order): the accept answers the workspace, with no second membership and no 500."""
    invitation = services.invitation_create(workspace_id=workspace.pk, actor=owner, email=outsider.email,
                                            role="editor")
    original = services._answered

    def answered_then_added(invitation, status):
        original(invitation, status)
        WorkspaceMember.objects.create(workspace=workspace, user=outsider, role="viewer")

    monkeypatch.setattr(services, "_answered", answered_then_added)
    answer = services.invitation_accept(invitation_id=invitation.pk, user=outsider)
    assert (answer.pk, answer.role) == (workspace.pk, "viewer")
    assert WorkspaceMember.objects.filter(workspace=workspace, user=outsider).count() == 1
