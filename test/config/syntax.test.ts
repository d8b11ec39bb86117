import { describe, expect, it } from 'vitest';
import { nodeIdProblem, sharedGroupProblem, topicFilterProblem, topicNameProblem } from '../../src/config/syntax.ts';

describe('MQTT topic filters', () => {
  it.each(['a/b/c', 'plant/+/camera', 'plant/#', '#', '+', '+/+/#', '/leading/slash', 'trailing/', 'sp ace/ü'])('accepts %s', (filter) => {
    expect(topicFilterProblem(filter)).toBeUndefined();
  });
  it.each(['', 'a/#/b', 'a/b#', 'a+/b', 'a/+b', '##', 'a\u0000b', '$share/g/a'])('rejects %j', (filter) => {
    expect(topicFilterProblem(filter)).toBeTypeOf('string');
  });
  it('forbids wildcards in topics to publish to', () => {
    expect(topicNameProblem('a/b/results')).toBeUndefined();
    expect(topicNameProblem('a/+/results')).toMatch(/wildcards/);
    expect(topicNameProblem('a/#')).toMatch(/wildcards/);
  });
  it('checks shared group names', () => {
    expect(sharedGroupProblem('edgeke')).toBeUndefined();
    expect(sharedGroupProblem('a/b')).toBeTypeOf('string');
    expect(sharedGroupProblem('')).toBeTypeOf('string');
  });
});

describe('OPC UA node ids', () => {
  it.each([
    'i=2258',
    'ns=1;i=1001',
    'ns=2;s=Bearing.DriveEnd.Acceleration',
    'ns=3;g=72962b91-fa75-4ae6-8d28-b404dc7daf63',
    'ns=1;b=M/RbKBsRVkePCePcx24oRA==',
    'nsu=urn:edgeke:sim;s=Line1',
    's=with;semicolons=and spaces',
  ])('accepts %s', (nodeId) => {
    expect(nodeIdProblem(nodeId)).toBeUndefined();
  });
  it.each(['', 'ns=1', 'ns=1;x=2', 'ns=a;i=1', 'ns=1;i=-1', 'ns=1;i=4294967296', 'ns=70000;i=1', 'ns=1;s=', 'ns=1;g=not-a-guid', 'ns=1;b=***', 'Bearing.DriveEnd'])(
    'rejects %j',
    (nodeId) => {
      expect(nodeIdProblem(nodeId)).toBeTypeOf('string');
    },
  );
});
