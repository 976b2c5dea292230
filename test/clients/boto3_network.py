"""Key pairs, security groups and the default network of amiboot's EC2
endpoint, driven by Debian's python3-boto3.

Run by test/integration/network-api.test.ts as `/usr/bin/python3 -I
boto3_network.py`, with AMIBOOT_CLIENT (JSON: endpoint, accessKeyId,
secretAccessKey, publicKey: an OpenSSH public key line to import). Prints one
JSON object with what each call answered, which the test checks; an answer
boto3 cannot parse is an exception (traceback on stderr, exit code 1).
"""

import json
import os
import sys
import traceback

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

config = json.loads(os.environ["AMIBOOT_CLIENT"])
ec2 = boto3.Session().client(
    "ec2",
    endpoint_url=config["endpoint"],
    region_name="eu-west-1",
    aws_access_key_id=config["accessKeyId"],
    aws_secret_access_key=config["secretAccessKey"],
    config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
)


def error_of(call, **kwargs):
    """The ClientError a call raises, as {code, message}."""
    try:
        call(**kwargs)
    except ClientError as e:
        return {"code": e.response["Error"]["Code"], "message": e.response["Error"]["Message"]}
    return None


def run(out):
    key = ec2.create_key_pair(KeyName="py", KeyType="ed25519")
    out["created"] = {k: key[k] for k in ("KeyName", "KeyPairId", "KeyFingerprint")}
    out["created"]["materialHead"] = key["KeyMaterial"].splitlines()[0]
    imported = ec2.import_key_pair(KeyName="py-imported", PublicKeyMaterial=config["publicKey"].encode())
    out["imported"] = {k: imported[k] for k in ("KeyName", "KeyPairId", "KeyFingerprint")}
    described = ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": ["py*"]}], IncludePublicKey=True)["KeyPairs"]
    out["keys"] = [{"name": k["KeyName"], "type": k["KeyType"], "publicKey": k["PublicKey"]} for k in described]
    out["duplicateKey"] = error_of(ec2.create_key_pair, KeyName="py")

    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
    out["vpc"] = {"VpcId": vpc["VpcId"], "CidrBlock": vpc["CidrBlock"], "IsDefault": vpc["IsDefault"]}
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]
    out["subnets"] = [[s["AvailabilityZone"], s["CidrBlock"]] for s in subnets]
    out["zones"] = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]]

    group = ec2.create_security_group(GroupName="py-web", Description="from boto3", VpcId=vpc["VpcId"])
    ec2.authorize_security_group_ingress(
        GroupId=group["GroupId"],
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    out["duplicateRule"] = error_of(
        ec2.authorize_security_group_ingress, GroupId=group["GroupId"], IpProtocol="tcp", FromPort=22, ToPort=22, CidrIp="0.0.0.0/0"
    )
    sg = ec2.describe_security_groups(GroupIds=[group["GroupId"]])["SecurityGroups"][0]
    out["group"] = {
        "GroupId": sg["GroupId"],
        "GroupName": sg["GroupName"],
        "VpcId": sg["VpcId"],
        "rules": [[p["IpProtocol"], p.get("FromPort"), p.get("ToPort"), [r["CidrIp"] for r in p["IpRanges"]]] for p in sg["IpPermissions"]],
    }
    ec2.revoke_security_group_ingress(GroupId=group["GroupId"], IpProtocol="tcp", FromPort=22, ToPort=22, CidrIp="0.0.0.0/0")
    out["rulesAfterRevoke"] = ec2.describe_security_groups(GroupNames=["py-web"])["SecurityGroups"][0]["IpPermissions"]
    out["missingRule"] = error_of(ec2.revoke_security_group_ingress, GroupName="py-web", IpProtocol="tcp", FromPort=22, ToPort=22, CidrIp="0.0.0.0/0")
    ec2.delete_security_group(GroupId=group["GroupId"])
    out["missingGroup"] = error_of(ec2.describe_security_groups, GroupIds=[group["GroupId"]])
    out["deleteDefault"] = error_of(ec2.delete_security_group, GroupName="default")
    ec2.delete_key_pair(KeyName="py")
    ec2.delete_key_pair(KeyName="py")
    out["keysLeft"] = [k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]]


out = {}
try:
    run(out)
except Exception:
    traceback.print_exc()
    print(json.dumps(out))
    sys.exit(1)
print(json.dumps(out))
