// Microsoft Graph application permissions for the Graph managed identity, by name (each role's id is looked up
// on Microsoft Graph's own service principal). Needs the Microsoft Graph Bicep extension (bicepconfig.json), and
// whoever provisions must be allowed to grant app roles (Privileged Role Administrator, or Global Administrator).

extension microsoftGraphV1

@description('The managed identity\'s service principal (object) id.')
param principalId string

@description('Graph application permission names, e.g. User.Read.All.')
param roles array

resource graph 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: '00000003-0000-0000-c000-000000000000'
}

resource grants 'Microsoft.Graph/appRoleAssignedTo@v1.0' = [
  for role in roles: {
    principalId: principalId
    resourceId: graph.id
    appRoleId: filter(graph.appRoles, r => r.value == role)[0].id
  }
]
