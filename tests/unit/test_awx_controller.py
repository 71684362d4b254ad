"""awx/controller validated against AWX's own rules, without an AWX.

- Surveys: `JobTemplateSurveySpec._validate_spec_data` (awx/api/views) for the spec itself, and
  `SurveyJobTemplateMixin._survey_element_validation` (awx/main/models/mixins.py) for every
  default: AWX silently drops a default that fails it, so a bad default means a missing variable.
- Credential type: `CredentialTypeInputField` / `CredentialTypeInjectorField` (awx/main/fields.py):
  their JSON schemas, unique ids, reserved `tower`, types of defaults, string-only keys, env names
  (no ANSIBLE_*), and every injector template rendered with StrictUndefined against the defined
  inputs only. Custom credential types are of kind cloud or net.
- The play inputs: every required input of the playbook behind a template has a survey question,
  an injector or a default; every survey question feeds a real input with a matching type.
- awx.awx: every option used exists in the installed awx.awx modules with the right type.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from copy import deepcopy
from pathlib import Path

import jsonschema
import pytest
import yaml
from jinja2 import StrictUndefined
from jinja2.exceptions import UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CONTROLLER = REPO / "awx" / "controller"
PROJECT = REPO / "awx" / "project"

ALLOWED_TYPES = {"text": str, "textarea": str, "password": str, "multiplechoice": str, "multiselect": str,
                 "integer": int, "float": float}
CUT_OVER = ("pgmigrate: preflight", "pgmigrate: migrate", "pgmigrate: rollback")


def load_json(path):
    return json.loads(Path(path).read_text())


def migrate_spec():
    return yaml.safe_load((REPO / "roles" / "migrate" / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]


def role_spec(role):
    specs = yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())
    return specs["argument_specs"]["main"]["options"]


def task_spec(path):
    """The argument spec of the validate_argument_spec task that opens a task file of awx/project."""
    first = yaml.safe_load(Path(path).read_text())[0]
    return first["ansible.builtin.validate_argument_spec"]["argument_spec"]


def job_templates():
    return yaml.safe_load((CONTROLLER / "job_templates.yml").read_text())["pgmigrate_controller_job_templates"]


def workflow():
    return yaml.safe_load((CONTROLLER / "workflow.yml").read_text())["pgmigrate_controller_workflow"]


def credential_type():
    return load_json(CONTROLLER / "credential_type.json")


def survey(name):
    return load_json(CONTROLLER / "surveys" / name)


def template(name):
    (found,) = [t for t in job_templates() if t["name"] == name]
    return found


# ---- AWX's survey rules ------------------------------------------------------------------------

def awx_validate_survey_spec(new_spec):
    """JobTemplateSurveySpec._validate_spec_data: None when valid, else AWX's error text."""
    for field, expect_type, type_label in [("name", str, "string"), ("description", str, "string"),
                                           ("spec", list, "list of items")]:
        if field not in new_spec:
            return "Field '%s' is missing from survey spec." % field
        if not isinstance(new_spec[field], expect_type):
            return "Expected %s for field '%s'" % (type_label, field)
    if len(new_spec["spec"]) < 1:
        return "'spec' doesn't contain any items."
    variables = set()
    for idx, item in enumerate(new_spec["spec"]):
        if not isinstance(item, dict):
            return "Survey question %s is not a json object." % idx
        for field_name in ["type", "question_name", "variable", "required"]:
            if field_name not in item:
                return "'%s' missing from survey question %s" % (field_name, idx)
            allowed = bool if field_name == "required" else str
            if not isinstance(item[field_name], allowed):
                return "'%s' in survey question %s has the wrong type" % (field_name, idx)
        if item["variable"] in variables:
            return "'variable' '%s' duplicated in survey question %s." % (item["variable"], idx)
        variables.add(item["variable"])
        qtype = item["type"]
        if qtype not in ALLOWED_TYPES:
            return "'%s' in survey question %s is not an allowed question type." % (qtype, idx)
        if "default" in item and item["default"] != "":
            if not isinstance(item["default"], ALLOWED_TYPES[qtype]) or isinstance(item["default"], bool):
                return "Default value %r in survey question %s has the wrong type." % (item["default"], idx)
        for key in ("min", "max"):
            if key in item and item[key] is not None and not isinstance(item[key], int):
                return "The %s limit in survey question %s expected to be integer." % (key, idx)
        if qtype in ("multiplechoice", "multiselect"):
            if "choices" not in item:
                return "Survey question %s of type %s must specify choices." % (idx, qtype)
            choices = item["choices"]
            if isinstance(choices, str):
                choices = [c for c in choices.splitlines() if c.strip()]
            if "default" in item:
                defaults = item["default"].splitlines() if isinstance(item["default"], str) else item["default"]
                if qtype == "multiplechoice" and len(defaults) > 1:
                    return "Multiple Choice (Single Select) can only have one default value."
                if any(d not in choices for d in defaults):
                    return "Default choice must be answered from the choices listed."
        if "default" in item and isinstance(item["default"], str) and item["default"].startswith("$encrypted$"):
            return "$encrypted$ is a reserved keyword"
    return None


def awx_survey_element_errors(element, data):
    """SurveyJobTemplateMixin._survey_element_validation (for an unencrypted value)."""
    errors = []
    var = element["variable"]
    if var not in data and element["required"]:
        errors.append("'%s' value missing" % var)
    elif element["type"] in ("textarea", "text", "password"):
        if var in data:
            if not isinstance(data[var], str):
                return ["Value %s for '%s' expected to be a string." % (data[var], var)]
            if element.get("min") not in ("", None) and len(data[var]) < int(element["min"]):
                errors.append("'%s' value is too small" % var)
            if element.get("max") not in ("", None) and len(data[var]) > int(element["max"]):
                errors.append("'%s' value is too large" % var)
    elif element["type"] == "integer":
        if var in data:
            if not isinstance(data[var], int) or isinstance(data[var], bool):
                return ["Value %s for '%s' expected to be an integer." % (data[var], var)]
            if element.get("min") not in ("", None) and data[var] < int(element["min"]):
                errors.append("'%s' value is too small" % var)
            if element.get("max") not in ("", None) and data[var] > int(element["max"]):
                errors.append("'%s' value is too large" % var)
    elif element["type"] == "float":
        if var in data:
            if not isinstance(data[var], (float, int)) or isinstance(data[var], bool):
                return ["Value %s for '%s' expected to be a numeric type." % (data[var], var)]
            if element.get("min") not in ("", None) and data[var] < float(element["min"]):
                errors.append("'%s' value is too small" % var)
            if element.get("max") not in ("", None) and data[var] > float(element["max"]):
                errors.append("'%s' value is too large" % var)
    elif element["type"] in ("multiselect", "multiplechoice"):
        choices = element["choices"]
        if isinstance(choices, str):
            choices = [c for c in choices.splitlines() if c.strip()]
        if var in data:
            values = data[var] if element["type"] == "multiselect" else [data[var]]
            if element["type"] == "multiselect" and not isinstance(data[var], list):
                return ["'%s' value is expected to be a list." % var]
            errors += ["Value %s for '%s' expected to be one of %s." % (v, var, choices) for v in values
                       if v not in choices]
    return errors


def awx_launch_extra_vars(job_template, answers):
    """SurveyJobTemplateMixin._update_unified_job_kwargs: JT extra_vars, valid survey defaults, answers."""
    extra_vars = dict(job_template.get("extra_vars") or {})
    if job_template.get("survey"):
        for element in survey(job_template["survey"])["spec"]:
            default = element.get("default")
            if default is not None and not awx_survey_element_errors(element, {element["variable"]: default}):
                extra_vars[element["variable"]] = default
    extra_vars.update(answers)
    return extra_vars


SURVEYS = sorted(p.name for p in (CONTROLLER / "surveys").glob("*.json"))


@pytest.mark.parametrize("name", SURVEYS)
def test_survey_is_valid_for_awx(name):
    spec = survey(name)
    assert awx_validate_survey_spec(spec) is None
    for element in spec["spec"]:
        if "default" in element:
            # A default AWX's own launch validation rejects is dropped without a word.
            assert awx_survey_element_errors(element, {element["variable"]: element["default"]}) == [], element
        assert element["variable"].startswith("pgmigrate_"), element["variable"]
        assert not element["variable"].startswith(("awx_", "tower_"))
        assert element.get("question_description"), element["variable"]


def test_the_survey_validator_rejects_what_awx_rejects():
    good = {"name": "", "description": "", "spec": [
        {"question_name": "Q", "required": True, "type": "text", "variable": "pgmigrate_x", "min": 1, "max": 3}]}
    assert awx_validate_survey_spec(good) is None
    cases = [
        ("spec", []),
        ("dup", good["spec"] * 2),
        ("type", [dict(good["spec"][0], type="boolean")]),
        ("default-type", [dict(good["spec"][0], type="integer", default="5")]),
        ("choices", [dict(good["spec"][0], type="multiplechoice")]),
        ("default-choice", [dict(good["spec"][0], type="multiplechoice", choices=["a", "b"], default="c")]),
        ("min", [dict(good["spec"][0], min="1")]),
        ("required", [{k: v for k, v in good["spec"][0].items() if k != "required"}]),
    ]
    for label, spec in cases:
        assert awx_validate_survey_spec(dict(good, spec=spec)) is not None, label
    assert awx_survey_element_errors(dict(good["spec"][0], default="long"), {"pgmigrate_x": "long"})
    assert awx_survey_element_errors({"variable": "p", "required": True, "type": "integer", "min": 1, "max": 65535},
                                     {"p": 0})


def test_secret_inputs_are_never_plain_survey_questions():
    """A no_log input asked by a survey must be of type password (masked in AWX's UI)."""
    secret = {n for n, o in migrate_spec().items() if o.get("no_log")}
    secret |= {n for n, o in role_spec("postgresql_server").items() if o.get("no_log")}
    assert {"pgmigrate_db_owner_password", "postgresql_server_app_password"} <= secret
    for name in SURVEYS:
        for element in survey(name)["spec"]:
            if element["variable"] in secret or "password" in element["variable"]:
                assert element["type"] == "password", element
            if element["type"] == "password":
                assert "default" not in element or element["default"] == ""


# ---- the credential type -----------------------------------------------------------------------

INPUTS_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "required": {"type": "array", "items": {"type": "string"}},
        "fields": {"type": "array", "items": {
            "type": "object",
            "properties": {
                "type": {"enum": ["string", "boolean"]},
                "format": {"enum": ["ssh_private_key", "url"]},
                "choices": {"type": "array", "minItems": 1, "items": {"type": "string"}, "uniqueItems": True},
                "id": {"type": "string", "pattern": "^[a-zA-Z_]+[a-zA-Z0-9_]*$"},
                "label": {"type": "string"}, "help_text": {"type": "string"}, "multiline": {"type": "boolean"},
                "secret": {"type": "boolean"}, "ask_at_runtime": {"type": "boolean"}, "default": {},
            },
            "additionalProperties": False, "required": ["id", "label"]}},
    },
}
INJECTORS_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "file": {"type": "object", "patternProperties": {r"^template(\.[a-zA-Z_]+[a-zA-Z0-9_]*)?$": {"type": "string"}},
                 "additionalProperties": False},
        "env": {"type": "object", "patternProperties": {
            "^[a-zA-Z_]+[a-zA-Z0-9_]*$": {"type": "string", "pattern": "^[\x00-\x7F]*$"}}, "additionalProperties": False},
        "extra_vars": {"type": "object", "patternProperties": {"^[a-zA-Z_]+[a-zA-Z0-9_]*$": {"type": "string"}},
                       "additionalProperties": False},
    },
}


def awx_credential_type_errors(ctype):
    errors = []
    if ctype.get("kind") not in ("cloud", "net"):
        errors.append("custom credential types must be of kind cloud or net")
    inputs, injectors = ctype.get("inputs", {}), ctype.get("injectors", {})
    if "dependencies" in inputs:
        errors.append("'dependencies' is not supported for custom credentials.")
    errors += [e.message for e in jsonschema.Draft4Validator(INPUTS_SCHEMA).iter_errors(inputs)]
    errors += [e.message for e in jsonschema.Draft4Validator(INJECTORS_SCHEMA).iter_errors(injectors)]
    if errors:
        return errors
    ids = set()
    for field in inputs.get("fields", []):
        if field["id"] == "tower":
            errors.append('"tower" is a reserved field name')
        if field["id"] in ids:
            errors.append("field IDs must be unique (%s)" % field["id"])
        ids.add(field["id"])
        ftype = field.get("type", "string")
        if "default" in field and not isinstance(field["default"], {"string": str, "boolean": bool}[ftype]):
            errors.append("%s is not a %s" % (field["default"], ftype))
        for key in ("choices", "multiline", "format", "secret"):
            if key in field and ftype != "string":
                errors.append("%s not allowed for %s type (%s)" % (key, ftype, field["id"]))
    errors += ["required input %s is not a field" % r for r in inputs.get("required", []) if r not in ids]

    class Filenames(object):
        pass

    class Tower(object):
        filename = Filenames()

    namespace = {field_id: "EXAMPLE" for field_id in ids}
    namespace["tower"] = Tower()
    templates = [k for k in injectors.get("file", {}) if k.startswith("template")]
    if "template" in templates:
        if len(templates) > 1:
            errors.append("Must use multi-file syntax when injecting multiple files")
        Tower.filename = "EXAMPLE_FILENAME"
    else:
        for name in templates:
            setattr(Tower.filename, name.split(".")[1], "EXAMPLE_FILENAME")
    for kind, injector in injectors.items():
        for key, tmpl in injector.items():
            if kind == "env" and key.startswith("ANSIBLE_"):
                errors.append("Environment variable %s may affect Ansible configuration" % key)
            try:
                rendered = ImmutableSandboxedEnvironment(undefined=StrictUndefined).from_string(tmpl).render(namespace)
            except UndefinedError as exc:
                errors.append("%s uses an undefined field (%s)" % (key, exc))
                continue
            if isinstance(Tower.filename, Filenames) and "Filenames object" in rendered:
                errors.append("%s references tower.filename without a file injector" % key)
    return errors


def test_credential_type_is_valid_for_awx():
    assert awx_credential_type_errors(credential_type()) == []


def test_the_credential_type_validator_rejects_what_awx_rejects():
    base = credential_type()
    broken = []
    for change in (
        lambda c: c["injectors"]["extra_vars"].update(pgmigrate_x="{{ no_such_input }}"),
        lambda c: c["injectors"].update(env={"ANSIBLE_CONFIG": "{{ owner_password }}"}),
        lambda c: c["inputs"]["fields"].append(dict(c["inputs"]["fields"][0])),
        lambda c: c["inputs"]["fields"].append({"id": "tower", "label": "x"}),
        lambda c: c["inputs"]["fields"].append({"id": "b", "label": "b", "type": "boolean", "secret": True}),
        lambda c: c.update(kind="ssh"),
        lambda c: c["injectors"]["extra_vars"].update({"bad-name": "x"}),
    ):
        changed = deepcopy(base)
        change(changed)
        broken.append(awx_credential_type_errors(changed))
    assert all(broken), broken


def test_credential_type_injects_extra_vars_only_and_secrets_are_secret():
    ctype = credential_type()
    injected = ctype["injectors"]["extra_vars"]
    # Env vars of a credential exist only in the execution environment; the migration needs these
    # values on remote hosts, so everything is an extra var.
    assert set(ctype["injectors"]) == {"extra_vars"}
    fields = {f["id"]: f for f in ctype["inputs"]["fields"]}
    secret_vars = {n for n, o in migrate_spec().items() if o.get("no_log")}
    secret_vars |= {n for n, o in role_spec("postgresql_server").items() if o.get("no_log")}
    for var, tmpl in injected.items():
        assert var.startswith(("pgmigrate_", "postgresql_server_")) and not var.startswith(("awx_", "tower_"))
        used = re.findall(r"{{\s*(\w+)\s*}}", tmpl)
        assert len(used) == 1 and used[0] in fields, (var, tmpl)
        if var in secret_vars:
            assert fields[used[0]].get("secret") is True, var
    assert {"owner_password", "app_password"} <= set(ctype["inputs"]["required"])
    assert fields["ca_cert"].get("multiline") is True and not fields["ca_cert"].get("secret")
    # Both naming schemes get the same password: migrate.yml and the provision role.
    assert injected["pgmigrate_db_owner_password"] == injected["postgresql_server_owner_password"]
    assert injected["pgmigrate_db_app_password"] == injected["postgresql_server_app_password"]
    # The wrappers read the CA certificate content under this name.
    assert "pgmigrate_db_ca_cert_pem" in task_spec(PROJECT / "tasks" / "install_ca.yml")
    assert injected["pgmigrate_db_ca_cert_pem"] == "{{ ca_cert }}"


def credential_extra_vars(values):
    """The extra vars AWX injects for a credential with VALUES (unset inputs render empty)."""
    env = ImmutableSandboxedEnvironment()
    namespace = {k: v for k, v in values.items() if v}
    return {k: env.from_string(t).render(**namespace) for k, t in credential_type()["injectors"]["extra_vars"].items()}


def test_credential_without_optional_inputs_injects_empty_strings():
    injected = credential_extra_vars({"owner_password": "o{{pw", "app_password": "a"})
    assert injected["pgmigrate_db_owner_password"] == "o{{pw"
    assert injected["postgresql_server_readonly_password"] == "" and injected["pgmigrate_db_ca_cert_pem"] == ""


# ---- play inputs covered by questions, injectors or defaults -------------------------------------

def wrapper_inputs(playbook):
    """Inputs of the wrapper's own plays (their task files' argument specs)."""
    names = set(task_spec(PROJECT / "tasks" / "launch_checks.yml"))
    if playbook != "pgmigrate_provision.yml" and playbook != "pgmigrate_backup.yml":
        names |= set(task_spec(PROJECT / "tasks" / "install_ca.yml"))
    if playbook == "pgmigrate_provision.yml":
        names |= set(task_spec(PROJECT / "tasks" / "provision_inputs.yml"))
    return names


def play_inputs(playbook):
    """name -> argument spec option of every input the imported playbook validates."""
    if playbook in ("pgmigrate_migrate.yml", "pgmigrate_preflight.yml", "pgmigrate_rollback.yml"):
        return migrate_spec()
    if playbook == "pgmigrate_provision.yml":
        return role_spec("postgresql_server")
    return role_spec("postgresql_backup")


@pytest.mark.parametrize("jt", [t["name"] for t in job_templates()])
def test_every_required_play_input_has_a_question_an_injector_or_a_default(jt):
    job_template = template(jt)
    spec = play_inputs(job_template["playbook"])
    questions = {e["variable"] for e in survey(job_template["survey"])["spec"]} if job_template.get("survey") else set()
    injected = set(credential_type()["injectors"]["extra_vars"])
    fixed = set(job_template.get("extra_vars") or {})
    mapped = set()
    if job_template["playbook"] == "pgmigrate_provision.yml":
        # tasks/provision_inputs.yml hands pgmigrate_db_* to the role's postgresql_server_* names.
        mapped = {"postgresql_server_db_name", "postgresql_server_owner_user", "postgresql_server_app_user",
                  "postgresql_server_port", "postgresql_server_readonly_user"}
    required = {name for name, option in spec.items() if option.get("required")}
    missing = required - questions - injected - fixed - mapped
    assert missing == set()
    # Guard against reading the wrong spec: only the backup role has no required input.
    assert bool(required) is (job_template["playbook"] != "pgmigrate_backup.yml"), jt


@pytest.mark.parametrize("jt", [t["name"] for t in job_templates() if t.get("survey")])
def test_every_survey_question_feeds_a_real_input_of_the_right_type(jt):
    job_template = template(jt)
    spec = dict(play_inputs(job_template["playbook"]))
    wrapper = wrapper_inputs(job_template["playbook"])
    for element in survey(job_template["survey"])["spec"]:
        var = element["variable"]
        assert var in spec or var in wrapper, "%s asks %s, which nothing reads" % (jt, var)
        option = spec.get(var) or {}
        if job_template["playbook"] == "pgmigrate_provision.yml":
            option = task_spec(PROJECT / "tasks" / "provision_inputs.yml")[var]
        otype = option.get("type", "str")
        if element["type"] == "integer":
            assert otype == "int", var
        elif element["type"] == "multiplechoice":
            if otype == "bool":
                assert set(element["choices"]) <= {"true", "false"}, var
            else:
                assert set(element["choices"]) <= set(option["choices"]), var
                assert element["default"] == option.get("default", element["default"]), var
        else:
            assert otype in ("str", "path"), var
            assert "choices" not in option, var


def test_surveys_agree_where_they_share_a_question():
    migrate_q = survey("migrate.json")["spec"]
    rollback_q = survey("rollback.json")["spec"]
    assert rollback_q[:len(migrate_q)] == migrate_q
    assert [e["variable"] for e in rollback_q[len(migrate_q):]] == ["pgmigrate_rollback_discard_writes"]
    by_var = {}
    for name in ("provision.json", "migrate.json"):
        for element in survey(name)["spec"]:
            assert by_var.setdefault(element["variable"], element) == element, element["variable"]
    # The workflow asks everything its nodes' templates ask, once, exactly as they ask it.
    assert {e["variable"]: e for e in survey("workflow.json")["spec"]} == by_var


def test_launching_the_migrate_template_as_awx_does_passes_the_playbook_validation():
    """Survey defaults + answers + credential: every required input is there, with a valid value."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    answers = {"pgmigrate_app_dir": "/srv/app", "pgmigrate_app_python": "/srv/venv/bin/python",
               "pgmigrate_app_env_file": "/srv/app/.env", "pgmigrate_sqlite_path": "/srv/data/db.sqlite3",
               "pgmigrate_app_health_url": "http://127.0.0.1:8000/healthz", "pgmigrate_db_host": "db1.example.com"}
    for element in survey("migrate.json")["spec"]:
        assert awx_survey_element_errors(element, answers if element["variable"] in answers else
                                         {element["variable"]: element["default"]}) == []
    extra_vars = awx_launch_extra_vars(template("pgmigrate: migrate"), answers)
    extra_vars.update(credential_extra_vars({"owner_password": "o", "app_password": "a"}))
    spec = {k: {kk: vv for kk, vv in v.items() if kk != "description"} for k, v in migrate_spec().items()}
    result = ArgumentSpecValidator(spec).validate({k: v for k, v in extra_vars.items() if k in spec})
    assert result.error_messages == []
    assert result.validated_parameters["pgmigrate_db_port"] == 5432
    # Without the answers, AWX refuses to launch: the required questions have no default.
    defaults_only = awx_launch_extra_vars(template("pgmigrate: migrate"), {})
    missing = [e["variable"] for e in survey("migrate.json")["spec"] if awx_survey_element_errors(e, defaults_only)]
    assert sorted(missing) == sorted(answers)


# ---- job templates and workflow ----------------------------------------------------------------

def test_job_templates_point_at_the_wrappers_awx_offers():
    from test_awx_project import EXPECTED_PLAYBOOKS  # noqa: E402  (same directory)

    assert sorted(t["playbook"] for t in job_templates()) == EXPECTED_PLAYBOOKS
    assert len({t["name"] for t in job_templates()}) == len(job_templates())


@pytest.mark.parametrize("jt", [t["name"] for t in job_templates()])
def test_no_template_runs_twice_at_once_or_in_slices(jt):
    job_template = template(jt)
    assert job_template["allow_simultaneous"] is False
    assert job_template["job_slice_count"] == 1
    assert job_template["ask_limit_on_launch"] is False


@pytest.mark.parametrize("jt", CUT_OVER)
def test_cut_over_templates_run_for_real_and_cannot_be_switched_to_check(jt):
    job_template = template(jt)
    assert job_template["job_type"] == "run"
    assert job_template["ask_job_type_on_launch"] is False
    assert job_template["ask_variables_on_launch"] is False


def test_preflight_template_is_a_preflight_only_run():
    assert template("pgmigrate: preflight")["extra_vars"] == {"pgmigrate_preflight_only": True}
    assert "pgmigrate_preflight_only" in migrate_spec()


def test_workflow_is_provision_then_migrate_with_rollback_on_failure():
    wf = workflow()
    nodes = {n["identifier"]: n for n in wf["workflow_nodes"]}
    names = {t["name"] for t in job_templates()}
    assert {n["unified_job_template"]["name"] for n in nodes.values()} <= names
    assert all(n["unified_job_template"]["type"] == "job_template" for n in nodes.values())
    edges = {(ident, kind, target["identifier"]) for ident, node in nodes.items()
             for kind, targets in node.get("related", {}).items() for target in targets}
    assert edges == {("provision", "success_nodes", "migrate"), ("migrate", "failure_nodes", "rollback")}
    assert nodes["provision"]["unified_job_template"]["name"] == "pgmigrate: provision PostgreSQL"
    assert nodes["migrate"]["unified_job_template"]["name"] == "pgmigrate: migrate"
    assert nodes["rollback"]["unified_job_template"]["name"] == "pgmigrate: rollback"
    assert wf["allow_simultaneous"] is False and wf["ask_limit_on_launch"] is False
    # Every required question without a default of a node's template is asked by the workflow.
    asked = {e["variable"] for e in survey(wf["survey"])["spec"]}
    for node in nodes.values():
        job_template = template(node["unified_job_template"]["name"])
        for element in survey(job_template["survey"])["spec"]:
            if element["required"] and "default" not in element:
                assert element["variable"] in asked, element["variable"]


# ---- awx.awx accepts these options ------------------------------------------------------------

def awx_module_spec(module):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / "build" / "collections"))
    proc = subprocess.run([str(BIN / "ansible-doc"), "--json", "awx.awx." + module], capture_output=True, text=True,
                          env=env, check=True)
    options = json.loads(proc.stdout)["awx.awx." + module]["doc"]["options"]

    def convert(opts):
        spec = {}
        for name, doc in opts.items():
            option = {k: doc[k] for k in ("type", "elements", "choices", "required", "aliases") if k in doc}
            if "suboptions" in doc:
                option["options"] = convert(doc["suboptions"])
            spec[name] = option
        return spec

    return convert(options)


def validate_options(module, params):
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    spec = awx_module_spec(module)
    for name in [n for n, o in spec.items() if o.get("required")]:
        params.setdefault(name, "x")
    return ArgumentSpecValidator(spec).validate(params).error_messages


def test_job_template_options_exist_in_awx_awx():
    for job_template in job_templates():
        params = {k: v for k, v in job_template.items() if k != "survey"}
        params["survey_spec"] = survey(job_template["survey"]) if job_template.get("survey") else None
        assert validate_options("job_template", params) == [], job_template["name"]
    assert validate_options("job_template", {"name": "x", "job_slice_count": "many"}) != []


def test_workflow_options_exist_in_awx_awx():
    wf = {k: v for k, v in workflow().items() if k != "survey"}
    wf["survey_spec"] = survey(workflow()["survey"])
    assert validate_options("workflow_job_template", wf) == []
    broken = deepcopy(wf)
    broken["workflow_nodes"][0]["related"]["success_nodes"] = [{"name": "migrate"}]
    assert validate_options("workflow_job_template", broken) != []


def test_credential_type_options_exist_in_awx_awx():
    assert validate_options("credential_type", dict(credential_type())) == []


def test_apply_playbook_passes_every_option_of_the_data_files():
    apply_text = (CONTROLLER / "apply.yml").read_text()
    for job_template in job_templates():
        for key in job_template:
            assert "item.%s" % key in apply_text, key
    for key in workflow():
        assert "pgmigrate_controller_workflow.%s" % key in apply_text, key


def test_apply_playbook_validates_its_inputs_and_passes_syntax_check(tmp_path):
    plays = yaml.safe_load((CONTROLLER / "apply.yml").read_text())
    (play,) = plays
    first = play["tasks"][0]["ansible.builtin.validate_argument_spec"]["argument_spec"]
    assert all(name.startswith("pgmigrate_controller_") for name in first)
    assert all(next(iter(k for k in t if k.startswith(("awx.awx.", "ansible.builtin.")))) for t in play["tasks"])
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / "build" / "collections"),
               ANSIBLE_HOME=str(tmp_path / "home"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"))
    proc = subprocess.run([str(BIN / "ansible-playbook"), "--syntax-check", str(CONTROLLER / "apply.yml")],
                          capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_no_playbook_ever_prompts():
    """AWX runs without a terminal: no vars_prompt, no pause that waits for input."""
    files = list((REPO / "playbooks").rglob("*.yml")) + list((REPO / "awx").rglob("*.yml"))
    files += list((REPO / "roles").rglob("tasks/*.yml"))
    for path in files:
        data = yaml.safe_load(path.read_text())
        text = json.dumps(data)
        assert "vars_prompt" not in text, path
        for match in re.finditer(r'"ansible\.builtin\.pause": (\{[^}]*\}|null|"[^"]*")', text):
            assert "seconds" in match.group(1) or "minutes" in match.group(1), (path, match.group(0))
